"""Issue 10, YAML that picks one of two values silently or cannot be read (records/yamlio.py).

A key given twice in one mapping, a merge key, an integer literal no registry file needs (a
5,000-digit one, a 100,000-digit hexadecimal one, a base-60 one that costs quadratic time) and a
standard tag whose value is invalid (a date in month 13) are a malformed file: exit 5 naming it,
with both PyYAML parsers (the C one and the Python one).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import write_file

from modelreg.records import yamlio


def _register(run: Any, reg: Path, tmp_path: Path) -> Path:
    proc = run("register", "-R", reg, "m", write_file(tmp_path / "w.bin", "w\n"), "--metric", "acc=1")
    assert proc.returncode == 0, proc.stderr
    return reg / "models" / "m" / "versions" / "1.yaml"


@pytest.mark.parametrize("pure", [False, True], ids=["default-parser", "python-parser"])
@pytest.mark.parametrize(
    "text",
    [
        "name: m\nversion: 1\nname: n\n",
        "metrics:\n  acc: 1\n  acc: 2\n",
        "versions: {1: production, 01: staging}\n",
        "tags: {yes: a, true: b}\n",
        "<<: {name: m}\nversion: 1\n",
        "version: " + "7" * 5000 + "\n",
        "size: 0x" + "f" * 100_000 + "\n",
        "created: 2026-13-45\n",
        "acc: 1" + ":0" * 400 + ".5\n",
    ],
    ids=["top-level", "nested", "equal-ints", "equal-bools", "merge-key", "5000-digits", "hex", "month-13", "base-60"],
)
def test_yaml_that_a_registry_never_holds_is_refused(text: str, pure: bool) -> None:
    with pytest.raises(yamlio.YamlError) as refused:
        yamlio.loads(text, pure=pure)
    assert "\n" not in str(refused.value) and len(str(refused.value)) < 200


def test_the_c_parser_is_the_default_where_present() -> None:
    import yaml

    if not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML without its C extension")
    assert issubclass(yamlio._strict_loader(), yaml.CSafeLoader)
    assert yamlio.loads("a: 1\nb: [x, {c: 2}]\n") == yamlio.loads("a: 1\nb: [x, {c: 2}]\n", pure=True)


@pytest.mark.parametrize(
    "value",
    ["{acc: 1, acc: 2}", "{<<: {acc: 1}, f1: 2}", "{acc: " + "7" * 5000 + "}", "{acc: 2026-13-45}"],
    ids=["duplicate", "merge", "5000-digits", "month-13"],
)
def test_a_manifest_with_such_yaml_is_corrupt(run: Any, reg_path: Path, tmp_path: Path, value: str) -> None:
    manifest = _register(run, reg_path, tmp_path)
    text = manifest.read_text()
    assert "metrics:\n  acc: 1\n" in text
    manifest.write_text(text.replace("metrics:\n  acc: 1\n", f"metrics: {value}\n"))
    for args in (("show", "m@1"), ("list", "m"), ("export", "m@1", tmp_path / "out")):
        proc = run(*args, "-R", reg_path)
        assert proc.returncode == 5, f"{args}: exit {proc.returncode}: {proc.stderr}"
        assert "1.yaml" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("verify", "-R", reg_path, "--json")
    assert proc.returncode == 5
    assert any(f["path"] == str(manifest) for f in json.loads(proc.stdout)["findings"])


def test_a_base_60_integer_is_refused_in_well_under_a_second(run: Any, reg_path: Path, tmp_path: Path) -> None:
    """``1:0:0:…`` is an integer in YAML 1.1; PyYAML builds it with a quadratic loop (a 1 MiB
    manifest of it takes minutes) and the result cannot be printed as JSON."""
    manifest = _register(run, reg_path, tmp_path)
    text = manifest.read_text().replace("  acc: 1\n", "  acc: 1" + ":0" * 300_000 + "\n")
    assert len(text) < 1 << 20
    manifest.write_text(text)
    started = time.monotonic()
    proc = run("show", "m@1", "-R", reg_path, "--json")
    assert proc.returncode == 5, proc.stderr
    assert time.monotonic() - started < 10
    assert "integer" in proc.stderr and "1.yaml" in proc.stderr


def test_duplicate_keys_in_the_state_files_are_refused(run: Any, reg_path: Path, tmp_path: Path) -> None:
    _register(run, reg_path, tmp_path)
    assert run("promote", "-R", reg_path, "m@1", "production").returncode == 0
    stages = reg_path / "models" / "m" / "stages.yaml"
    stages.write_text(stages.read_text().replace("  1: production\n", "  1: production\n  1: archived\n"))
    proc = run("get-production", "m", "-R", reg_path)
    assert proc.returncode == 5 and "stages.yaml" in proc.stderr and "twice" in proc.stderr, proc.stderr
    proc = run("verify", "-R", reg_path, "--json")
    assert proc.returncode == 5
    assert any(f["path"] == str(stages) for f in json.loads(proc.stdout)["findings"])


def test_the_python_parser_is_used_where_the_c_one_is_missing(tmp_path: Path) -> None:
    """A real interpreter in which PyYAML's C extension cannot be imported refuses the same."""
    import sys

    script = (
        "import sys, yaml\n"
        "yaml.__dict__.pop('CSafeLoader', None)\n"
        "from modelreg.records import yamlio\n"
        "assert not any(c.__name__ == 'CParser' for c in yamlio._strict_loader().__mro__)\n"
        "try:\n"
        "    yamlio.loads('a: 1\\na: 2\\n')\n"
        "except yamlio.YamlError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "twice" in proc.stdout


def test_a_value_cached_under_the_old_rules_is_not_served(run: Any, reg_path: Path, tmp_path: Path) -> None:
    """The parse cache keys a parsed value by the file's bytes: a duplicate-key stage file parsed
    (and cached, sealed by this machine) by an earlier version that accepted it must not be served
    once the rules refuse it."""
    import shutil

    import yaml

    from modelreg.records.parsecache import load_cached

    _register(run, reg_path, tmp_path)
    assert run("promote", "-R", reg_path, "m@1", "production").returncode == 0
    stages = reg_path / "models" / "m" / "stages.yaml"
    stages.write_text(stages.read_text().replace("  1: production\n", "  1: archived\n  1: production\n"))
    cache = reg_path / ".modelreg" / "cache" / "parsed"
    shutil.rmtree(cache, ignore_errors=True)
    # What an earlier version did with this file: PyYAML's safe loader (the last key wins), cached.
    earlier = load_cached(stages.read_bytes(), lambda raw: yaml.load(raw, Loader=yaml.SafeLoader), cache)
    assert earlier["versions"] == {1: "production"}
    assert load_cached(stages.read_bytes(), lambda raw: None, cache) == earlier  # the entry is served
    proc = run("list", "m", "-R", reg_path)
    assert proc.returncode == 5 and "stages.yaml" in proc.stderr, proc.stdout + proc.stderr
