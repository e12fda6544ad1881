"""Pointing a test registry at a remote, and the files a teammate's clone shares through git."""

from __future__ import annotations

import json
from pathlib import Path

TRACKED = ("modelreg.toml", ".gitignore", ".gitattributes", "audit.jsonl", "models")

def configure_remote(
    reg: Path,
    url: str,
    endpoint: str | None = None,
    region: str | None = None,
    push_on_register: bool = False,
) -> None:
    """Rewrite the ``[remote]`` table (the last one `init` writes) of ``reg/modelreg.toml``."""
    toml = reg / "modelreg.toml"
    head, sep, _old = toml.read_text(encoding="utf-8").partition("[remote]")
    assert sep, "modelreg.toml has no [remote] table"
    lines = [f"url = {json.dumps(url)}"]
    if endpoint:
        lines.append(f"endpoint_url = {json.dumps(endpoint)}")
    if region:
        lines.append(f"region = {json.dumps(region)}")
    lines.append(f"push_on_register = {'true' if push_on_register else 'false'}")
    toml.write_text(head + "[remote]\n" + "\n".join(lines) + "\n", encoding="utf-8")
