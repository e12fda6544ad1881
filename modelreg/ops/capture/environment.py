"""The training environment a version was registered from: its Python and installed distributions.

From the interpreter given with ``--python`` (run, in isolated mode, to ask it), else the active
virtual environment (``$VIRTUAL_ENV``), else the active conda environment (``$CONDA_PREFIX``),
whose ``site-packages`` are read without running anything. ``diff`` and ``show`` compare what is
captured here, which is what a person debugging a bad deploy wants to see first.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelreg.errors import UsageError

_ASK = (
    "import json, sys, importlib.metadata as m\n"
    "packages = {}\n"
    "for d in m.distributions():\n"
    "    name = d.metadata['Name']\n"
    "    if name: packages[name] = d.version\n"
    "print(json.dumps({'python': '%d.%d.%d' % sys.version_info[:3], 'packages': packages}))\n"
)
_HEADER_RE = re.compile(rb"^(Name|Version):\s*(.+?)\s*$", re.MULTILINE)


def normalise(name: str) -> str:
    """A distribution's name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def capture(python: Path | None = None, env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    env = os.environ if env is None else env
    if python is not None:
        return _ask(python)
    for variable, kind in (("VIRTUAL_ENV", "virtualenv"), ("CONDA_PREFIX", "conda")):
        prefix = env.get(variable)
        if prefix and Path(prefix).is_dir():
            return {"source": f"{kind}:{prefix}", **_read(Path(prefix))}
    return None


def _ask(python: Path) -> dict[str, Any]:
    try:
        done = subprocess.run([str(python), "-I", "-c", _ASK], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"--python {python}: cannot run it ({exc})", code="invalid_input") from None
    try:
        found = json.loads(done.stdout)
        packages = {normalise(str(k)): str(v) for k, v in dict(found["packages"]).items()}
        return {
            "source": f"python:{python}",
            "python": str(found["python"]),
            "packages": dict(sorted(packages.items())),
        }
    except (ValueError, KeyError, TypeError):
        detail = (done.stderr.strip().splitlines() or ["no answer"])[-1]
        raise UsageError(f"--python {python}: not a Python interpreter that answers ({detail})") from None


def _read(prefix: Path) -> dict[str, Any]:
    packages: dict[str, str] = {}
    for site in sorted(prefix.glob("lib/python3*/site-packages")) + sorted(prefix.glob("Lib/site-packages")):
        for meta in sorted(site.glob("*.dist-info/METADATA")) + sorted(site.glob("*.egg-info/PKG-INFO")):
            try:
                with open(meta, "rb") as fh:
                    head = fh.read(16 << 10)
            except OSError:
                continue
            fields = {k.decode(): v.decode("utf-8", "replace") for k, v in _HEADER_RE.findall(head.split(b"\n\n")[0])}
            if "Name" in fields and "Version" in fields:
                packages.setdefault(normalise(fields["Name"]), fields["Version"])
    return {"python": _python_version(prefix), "packages": dict(sorted(packages.items()))}


def _python_version(prefix: Path) -> str | None:
    try:
        for line in (prefix / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version", "version_info"):
                return value.strip()
    except OSError:
        pass
    for meta in sorted(prefix.glob("conda-meta/python-[0-9]*.json")):
        return meta.name.split("-")[1]
    found = sorted(prefix.glob("lib/python3.*"))
    return found[-1].name.removeprefix("python") if found else None


def changes(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any] | None:
    """What differs between two captured environments (None when neither has one or both agree)."""
    a, b = a or {}, b or {}
    if not a and not b:
        return None
    pa, pb = dict(a.get("packages") or {}), dict(b.get("packages") or {})
    result: dict[str, Any] = {
        "python": {"a": a.get("python"), "b": b.get("python")} if a.get("python") != b.get("python") else None,
        "packages": {
            "added": {k: pb[k] for k in sorted(pb.keys() - pa.keys())},
            "removed": {k: pa[k] for k in sorted(pa.keys() - pb.keys())},
            "changed": {k: {"a": pa[k], "b": pb[k]} for k in sorted(pa.keys() & pb.keys()) if pa[k] != pb[k]},
        },
    }
    same = result["python"] is None and not any(result["packages"].values())
    return None if same else result
