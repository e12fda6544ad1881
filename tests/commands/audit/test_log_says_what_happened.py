"""Human output says what each change did: `log` renders alias moves and removals, `list NAME`
and `show NAME` show aliases, and `show` says where an imported version came from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelreg import Registry


def _registry(root: Path, make_file: Any) -> Registry:
    reg, _ = Registry.init(root)
    for n in (1, 2, 3):
        reg.register("churn", [make_file(root.parent / "m.bin", f"weights {n}")])
    return reg


def _rows(text: str) -> dict[str, list[str]]:
    """Piped log lines keyed by ACTION TARGET (the newest entry of that key wins)."""
    rows: dict[str, list[str]] = {}
    for line in text.splitlines()[1:]:
        cells = line.split()
        rows[f"{cells[2]} {cells[3]}"] = cells
    return rows


def test_log_says_what_alias_and_remove_entries_did(tmp_path: Path, make_file: Any, run: Any) -> None:
    reg = _registry(tmp_path / "reg", make_file)
    reg.promote("churn@2", "production")
    reg.alias("churn@1", "champion")
    reg.alias("churn@3", "champion")
    reg.alias("churn@3", "canary")
    reg.delete_alias("churn", "canary")
    reg.remove("churn@3", reason="label leak")
    proc = run("log", "churn", "-R", reg.root)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[4] == "CHANGE"
    by_line = "\n".join(lines)
    assert "champion=1" in by_line  # set
    assert "champion@1->champion@3" in by_line  # moved
    assert "development->removed" in by_line and "label leak" in by_line
    assert "(aliases deleted: champion" in by_line  # the removal took its aliases with it
    assert "canary@3->deleted" in by_line  # deleted
    assert "development->production" in by_line  # stage moves read as before


def test_list_and_show_name_show_aliases(tmp_path: Path, make_file: Any, run: Any) -> None:
    reg = _registry(tmp_path / "reg", make_file)
    reg.alias("churn@2", "champion")
    reg.alias("churn@2", "eu-canary")
    for command in ("list", "show"):
        proc = run(command, "churn", "-R", reg.root)
        assert proc.returncode == 0, proc.stderr
        table = proc.stdout[proc.stdout.index("VERSION") :].splitlines()
        assert "ALIASES" in table[0].split()
        row = next(line.split() for line in table[1:] if line.split()[0] == "2")
        assert "champion" in row and "eu-canary" in row, row
        assert all("champion" not in line for line in table[1:] if line.split()[0] != "2")


def test_show_says_where_an_imported_version_came_from(tmp_path: Path, make_file: Any, run: Any) -> None:
    from modelreg.ops.lifecycle.register import register

    reg, _ = Registry.init(tmp_path / "reg")
    imported = {
        "from": "mlflow",
        "tracking_uri": "sqlite:///mlruns.db",
        "name": "Churn",
        "version": "7",
        "created_at": "2026-01-02T03:04:05Z",
        "run_id": "0123abcd",
    }
    register(reg, "churn", [make_file(tmp_path / "m.bin", "w")], imported=imported)
    proc = run("show", "churn@1", "-R", reg.root)
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.split()[:1] == ["imported"])
    assert line.split(None, 1)[1] == "MLflow at sqlite:///mlruns.db: Churn version 7, run 0123abcd"
    reg.register("churn", [make_file(tmp_path / "m.bin", "x")])
    assert "imported" not in run("show", "churn@2", "-R", reg.root).stdout
