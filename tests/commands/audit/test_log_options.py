"""log's options are checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def code(result: Any) -> int:
    return result.exit_code


def test_log_options_are_checked(cli: Any, reg_path: Path) -> None:
    far = cli("log", "--since", "99999999999d", "--json", "-R", reg_path)
    assert code(far) == 0 and [e["action"] for e in json.loads(far.stdout)["entries"]] == ["init"]
    bad = cli("log", "--action", "promot", "-R", reg_path)
    assert code(bad) == 2 and "promote" in bad.stderr
