"""`import mlflow` against a real MLflow registry (sqlite and file stores built with MLflow's API).

The sqlite store is built once per session and only read here; tests that change the MLflow side
build their own (test_import_mlflow_incremental.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow extra is not installed (pip install -e '.[test]')")

from support.mlflow_checks import check_registry, do_import, importable
from support.mlflow_stores import build, session_store


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The session's sqlite store (read only), with the facts its builder wrote."""
    return session_store(tmp_path_factory)


def test_import_brings_every_field_and_byte(
    store: dict[str, Any], reg_path: Path, cli: Callable[..., Any], tmp_path: Path
) -> None:
    db = store["db"]
    before = (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns)
    report = do_import(cli, reg_path, "--tracking-uri", store["tracking_uri"])
    check_registry(reg_path, store, cli, tmp_path)
    # The user's database is never written (MLflow would migrate it), nor anything beside it.
    assert (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns) == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["artifacts", "mlflow.db"]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    assert report["counts"]["imported"] == len(importable(store)) == 9
    assert sorted(report["models"]) == ["churn", "credit-risk", "fraud-detector", "ranker"]
    skipped = {(s["mlflow_name"], s["mlflow_version"], s["what"], s["item"]): s["reason"] for s in report["skipped"]}
    assert "artifacts cannot be fetched" in skipped[("fraud-detector", 3, "version", None)]
    assert "not imported" in skipped[("fraud-detector", 3, "alias", "canary")]
    assert "several versions in Production" in skipped[("ranker", 1, "stage", "Production")]
    assert "names a stage" in skipped[("Credit Risk", 1, "alias", "production")]
    assert "modelreg promote credit-risk@1 production" in skipped[("Credit Risk", 1, "alias", "production")]
    assert ("Credit Risk", 1, "alias", "7") in skipped
    assert "not a finite number" in skipped[("Credit Risk", 1, "metric", "broken")]
    assert len(skipped) == 6
    renamed = {(r["what"], r["original"], r["name"]) for r in report["renamed"]}
    assert renamed == {
        ("model", "Credit Risk", "credit-risk"),
        ("alias", "Champion", "champion"),
        ("metric", "val loss", "val_loss"),
        ("param", "max depth", "max_depth"),
        ("param", "learning rate", "learning_rate"),
    }
    # Versions keep MLflow's order, so a model new here gets MLflow's numbers.
    churn = [(i["version"], i["mlflow_version"]) for i in report["imported"] if i["model"] == "churn"]
    assert churn == [(1, 1), (2, 2), (3, 3), (4, 4)]
    # The audit log says what came from where.
    log = json.loads(cli("log", "churn", "-R", reg_path, "--json").stdout)["entries"]
    registers = [e for e in log if e["action"] == "register"]
    assert len(registers) == 4
    assert all(e["reason"].startswith("import mlflow: churn version ") for e in registers)
    assert all(store["tracking_uri"] in e["reason"] for e in registers)

    # Again: nothing new, nothing changed, not a line added to the audit log.
    audit = (reg_path / "audit.jsonl").read_bytes()
    again = do_import(cli, reg_path, "--tracking-uri", store["tracking_uri"])
    assert again["imported"] == [] and again["updated"] == []
    assert again["counts"]["unchanged"] == 9
    assert (reg_path / "audit.jsonl").read_bytes() == audit
    check_registry(reg_path, store, cli, tmp_path / "again")


def test_dry_run_changes_nothing_and_predicts_the_import(
    store: dict[str, Any], reg_path: Path, cli: Callable[..., Any], tree_snapshot: Callable[..., Any]
) -> None:
    before = tree_snapshot(reg_path, ignore=[".modelreg"])
    plan = do_import(cli, reg_path, "--tracking-uri", store["tracking_uri"], "--dry-run")
    assert tree_snapshot(reg_path, ignore=[".modelreg"]) == before
    assert plan["dry_run"] is True
    assert not (reg_path / ".modelreg" / "imports").exists()  # its snapshot is gone too
    done = do_import(cli, reg_path, "--tracking-uri", store["tracking_uri"])

    def essence(report: dict[str, Any]) -> tuple[Any, ...]:
        keys = ("model", "version", "mlflow_name", "mlflow_version", "stage")
        return (
            [tuple(i[k] for k in keys) for i in report["imported"]],
            sorted(json.dumps(u, sort_keys=True) for u in report["updated"]),
            sorted((s["mlflow_name"], s["mlflow_version"], s["what"], s["item"]) for s in report["skipped"]),
        )

    assert essence(plan) == essence(done)
    assert len(plan["imported"]) == 9


def test_model_selection_rename_and_a_taken_name(
    store: dict[str, Any], reg_path: Path, cli: Callable[..., Any]
) -> None:
    uri = store["tracking_uri"]
    report = do_import(
        cli,
        reg_path,
        "--tracking-uri",
        uri,
        "--model",
        "Credit Risk",
        "--rename",
        "Credit Risk=credit",
        "--author",
        "ada",
    )
    assert report["models"] == ["credit"]
    assert [(i["model"], i["version"]) for i in report["imported"]] == [("credit", 1)]
    from modelreg import Registry

    assert Registry.open(reg_path).model_names() == ["credit"]
    assert Registry.open(reg_path).resolve("credit@1").created_by == "ada"
    # The name now belongs to that MLflow model: another one is not mixed into it.
    report = do_import(cli, reg_path, "--tracking-uri", uri, "--model", "churn", "--rename", "churn=credit")
    assert report["imported"] == []
    assert report["skipped"][0]["what"] == "model" and "'Credit Risk'" in report["skipped"][0]["reason"]
    # An unknown MLflow model: exit 3 and nothing imported.
    audit = (reg_path / "audit.jsonl").read_bytes()
    result = cli("import", "mlflow", "--tracking-uri", uri, "--model", "churn", "--model", "nope", "-R", reg_path)
    assert result.exit_code == 3 and "nope" in result.stderr
    assert (reg_path / "audit.jsonl").read_bytes() == audit


def test_stages_the_registry_lacks_and_its_rules(
    store: dict[str, Any], tmp_path: Path, cli: Callable[..., Any]
) -> None:
    """A registry without `staging` keeps Staging versions in its default stage (reported), and a
    stage that needs a reason still gets the imported versions (the import gives one)."""
    reg = tmp_path / "custom"
    assert cli("init", reg).exit_code == 0
    (reg / "modelreg.toml").write_text(
        'format_version = 1\n[stages]\nnames = ["dev", "production", "retired"]\ndefault = "dev"\n'
        'exclusive = ["production"]\narchive = "retired"\nproduction = "production"\n'
        'require_reason = ["production"]\n'
    )
    report = do_import(cli, reg, "--tracking-uri", store["tracking_uri"], "--model", "churn")
    from modelreg import Registry

    stages = {v.version: v.stage for v in Registry.open(reg).versions("churn")}
    assert stages == {1: "retired", 2: "production", 3: "dev", 4: "dev"}
    lacking = [s for s in report["skipped"] if s["what"] == "stage"]
    assert [(s["mlflow_version"], s["item"]) for s in lacking] == [(3, "Staging")]
    assert "no stage 'staging'" in lacking[0]["reason"]


def test_file_store_reads_the_same_and_is_left_untouched(
    tmp_path: Path, reg_path: Path, cli: Callable[..., Any], tree_snapshot: Callable[..., Any]
) -> None:
    facts = build(tmp_path / "fs", "file")
    store_dir = tmp_path / "fs"

    def stamp() -> dict[str, Any]:
        return {p: (s, os.stat(store_dir / p).st_mtime_ns) for p, s in tree_snapshot(store_dir).items()}

    before = stamp()
    do_import(cli, reg_path, "--tracking-uri", facts["tracking_uri"])
    assert stamp() == before
    check_registry(reg_path, facts, cli, tmp_path)


def test_missing_stores_are_refused_not_created(reg_path: Path, tmp_path: Path, run: Callable[..., Any]) -> None:
    for uri, path in (
        (f"sqlite:///{tmp_path}/nowhere/mlflow.db", tmp_path / "nowhere"),
        ("sqlite:///relative.db", tmp_path / "relative.db"),
        ((tmp_path / "mlruns").as_uri(), tmp_path / "mlruns"),
        ("missing.db", tmp_path / "missing.db"),
    ):
        proc = run("import", "mlflow", "--tracking-uri", uri, "-R", reg_path, "--json", cwd=tmp_path)
        assert proc.returncode == 3, (uri, proc.stderr)
        assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"] == "not_found"
        assert proc.stdout == ""
        assert not path.exists(), uri
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("reg")) == []
    proc = run("import", "mlflow", "-R", reg_path, env={"MLFLOW_TRACKING_URI": None})
    assert proc.returncode == 2 and "--tracking-uri" in proc.stderr
    proc = run("import", "wandb", "--tracking-uri", "x", "-R", reg_path)
    assert proc.returncode == 2 and "mlflow" in proc.stderr


def test_a_subprocess_writes_nothing_outside_the_registry(
    store: dict[str, Any], reg_path: Path, tmp_path: Path, run: Callable[..., Any], tree_snapshot: Callable[..., Any]
) -> None:
    """With none of the variables that quiet MLflow in tests (telemetry, CI), an import writes no
    file in HOME or the working directory; $MLFLOW_TRACKING_URI stands in for --tracking-uri."""
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    env = {
        "HOME": str(home),
        "PYTEST_CURRENT_TEST": None,
        "MLFLOW_TRACKING_URI": store["tracking_uri"],
        "MLFLOW_DISABLE_TELEMETRY": None,
        "DO_NOT_TRACK": None,
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    xdg = Path(os.environ["XDG_CONFIG_HOME"])
    config_before = tree_snapshot(xdg)
    proc = run("import", "mlflow", "-R", reg_path, "--model", "churn", cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    assert "churn@4" in proc.stdout and "imported 4 versions" in proc.stdout
    assert proc.stderr == ""  # MLflow's logging and download bars stay quiet
    assert tree_snapshot(home) == {} and tree_snapshot(cwd) == {}
    assert not [p for p in set(tree_snapshot(xdg)) - set(config_before) if "mlflow" in p.lower()]


def test_without_the_extra_the_message_says_what_to_install(
    store: dict[str, Any], reg_path: Path, tmp_path: Path
) -> None:
    code = (
        "import sys; sys.modules['mlflow'] = None\n"
        "sys.argv = ['modelreg', 'import', 'mlflow', '--tracking-uri', sys.argv[1], '-R', sys.argv[2]]\n"
        "from modelreg.cli import main; main()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, store["tracking_uri"], str(reg_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    assert "pip install 'modelreg[mlflow]'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_on_a_terminal_only(store: dict[str, Any], tmp_path: Path, cli: Callable[..., Any]) -> None:
    import pty

    def on_tty(reg: Path, *extra: str) -> tuple[int, str, str]:
        master, slave = pty.openpty()
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "modelreg",
                "import",
                "mlflow",
                "--tracking-uri",
                store["tracking_uri"],
                "-R",
                str(reg),
                "--model",
                "Credit Risk",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=slave,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        return proc.wait(timeout=120), stdout, b"".join(chunks).decode(errors="replace")

    for name, extra in (("human", ()), ("json", ("--json",)), ("quiet", ("-q",))):
        reg = tmp_path / name
        assert cli("init", reg).exit_code == 0
        code, stdout, terminal = on_tty(reg, *extra)
        assert code == 0, terminal
        if name == "human":
            # The bar's label changes as the import goes on; which ones get drawn depends on timing.
            assert "reading MLflow" in terminal and "1/1" in terminal, terminal
            assert "\x1b[" not in stdout and "imported 1 version," in stdout
        else:
            assert terminal.strip() == "", terminal
        if name == "json":
            assert json.loads(stdout)["counts"]["imported"] == 1


def test_one_import_at_a_time(store: dict[str, Any], reg_path: Path, run: Callable[..., Any]) -> None:
    """Two imports would both find a version missing: the second waits for the first's lock."""
    from filelock import FileLock

    lock = FileLock(str(reg_path / ".modelreg" / "locks" / "import.lock"))
    with lock:
        proc = run(
            "import",
            "mlflow",
            "--tracking-uri",
            store["tracking_uri"],
            "-R",
            reg_path,
            env={"MODELREG_LOCK_TIMEOUT": "0.5"},
        )
    assert proc.returncode == 4, proc.stderr
    assert "another import is running" in proc.stderr
    assert list(reg_path.glob("models/*/model.yaml")) == []


def _revision(db: Path) -> str:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def test_an_older_store_is_read_without_migrating_it(
    store: dict[str, Any], reg_path: Path, tmp_path: Path, run: Callable[..., Any]
) -> None:
    """MLflow upgrades (rewrites) an older sqlite store the moment it opens it; the import reads
    a snapshot, so the user's file keeps its schema and bytes, and the migration logs nothing."""
    import shutil

    from alembic import command
    from mlflow import MlflowClient
    from mlflow.store.db.utils import _get_alembic_config

    older = tmp_path / "older.db"
    shutil.copy(store["db"], older)
    current = _revision(older)
    command.downgrade(_get_alembic_config(f"sqlite:///{older}"), "-1")
    previous = _revision(older)
    assert previous != current
    control = tmp_path / "control.db"
    shutil.copy(older, control)
    MlflowClient(f"sqlite:///{control}", f"sqlite:///{control}").search_registered_models()
    assert _revision(control) == current  # what MLflow itself does to the file

    before = hashlib.sha256(older.read_bytes()).hexdigest()
    proc = run("import", "mlflow", "--tracking-uri", older, "-R", reg_path, "--json")  # a plain path
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert len(json.loads(proc.stdout)["imported"]) == len(importable(store))
    assert _revision(older) == previous
    assert hashlib.sha256(older.read_bytes()).hexdigest() == before
