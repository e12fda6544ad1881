"""A second adversarial review, after issues 13 and 15 landed: each test reproduces what it found.

Identities that differ only in case or blanks are one person; a request file is believed only as
far as the audit log backs it; nothing a clone carries under `.modelreg/` (a FIFO, a symlink to
/dev/zero) can hang or exhaust a command; init never writes through a link; a served copy holds
the version's files and nothing planted beside them; stats leaves recalled versions out.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import snapshot
from governance_helpers import add_policy, ok, refused
from procs import run_modelreg as _modelreg

from modelreg import Registry

IGNORED = (".modelreg/cache", ".modelreg/locks")


@pytest.fixture
def gated(reg_path: Path, make_file: Any, tmp_path: Path) -> tuple[Path, str]:
    """Production needs two approvals; churn@1 has a request filed by alice."""
    add_policy(reg_path, "[gates.production]\napprovals = 2")
    reg = Registry(reg_path)
    reg.register("churn", [make_file(tmp_path / "w.bin", "weights")], author="alice")
    return reg_path, reg.request("churn@1", "production", reason="go", actor="alice").id


# -- identities ---------------------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["alice", "alice ", "ALICE", " Alice"])
def test_the_requester_under_another_spelling_cannot_approve(cli: Any, gated: tuple[Path, str], spelling: str) -> None:
    root, request_id = gated
    before = snapshot(root, ignore=IGNORED)
    line = refused(cli("approve", request_id, "--author", spelling, "-R", root))
    assert "cannot approve" in line
    assert snapshot(root, ignore=IGNORED) == before


def test_an_approver_under_another_spelling_counts_once(cli: Any, gated: tuple[Path, str]) -> None:
    root, request_id = gated
    ok(cli("approve", request_id, "--author", "bob", "-R", root))
    line = refused(cli("approve", request_id, "--author", "BOB ", "-R", root))
    assert "already approved" in line
    assert Registry(root).resolve("churn@1").stage == "development"
    done = ok(cli("approve", request_id, "--author", "carol", "--json", "-R", root))
    assert done["applied"] is True and done["approved_by"] == ["bob", "carol"]


@pytest.mark.parametrize("who", ["   ", "bob\nalice", "\x1b[2Jbob", "x" * 201])
def test_an_identity_that_is_blank_or_holds_control_characters_is_refused(
    cli: Any, reg_path: Path, make_file: Any, tmp_path: Path, who: str
) -> None:
    weights = make_file(tmp_path / "w.bin", "weights")
    before = snapshot(reg_path, ignore=IGNORED)
    for result in (
        cli("register", "m", weights, "--author", who, "-R", reg_path),
        cli("register", "m", weights, "-R", reg_path, env={"MODELREG_AUTHOR": who}),
    ):
        assert "invalid identity" in refused(result, 2)
    assert snapshot(reg_path, ignore=IGNORED) == before
    created = ok(cli("register", "m", weights, "--author", "  bob  ", "--json", "-R", reg_path))
    assert created["created_by"] == "bob"


# -- a request file edited by hand ------------------------------------------------------------------


def _edit_request(root: Path, request_id: str, change: Any) -> None:
    import yaml

    path = root / "models" / "churn" / "requests" / f"{request_id}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_an_approval_written_into_the_request_file_by_hand_is_refused(cli: Any, gated: tuple[Path, str]) -> None:
    root, request_id = gated
    path = root / "models" / "churn" / "requests" / f"{request_id}.yaml"
    honest = path.read_bytes()
    forged = {"by": "bob", "at": "2026-12-01T23:47:00Z", "reason": None}
    _edit_request(root, request_id, lambda d: d["approvals"].append(forged))
    line = refused(cli("approve", request_id, "--author", "carol", "--json", "-R", root), 5)
    assert str(path) in line and "audit log does not record" in line
    assert Registry(root).resolve("churn@1").stage == "development"
    # The file put back as the log tells it: bob, who never approved, still may.
    path.write_bytes(honest)
    ok(cli("approve", request_id, "--author", "carol", "--json", "-R", root))
    decided = ok(cli("approve", request_id, "--author", "bob", "--json", "-R", root))
    assert decided["applied"] is True and sorted(decided["approved_by"]) == ["bob", "carol"]
    approvals = [e for e in Registry(root).audit.entries() if e["action"] == "approve"]
    assert [e["actor"] for e in approvals] == ["carol", "bob"]


@pytest.mark.parametrize("field,value", [("version", 2), ("stage", "staging"), ("requested_by", "mallory")], ids=str)
def test_a_request_file_that_tells_another_story_than_the_log_is_refused(
    cli: Any, gated: tuple[Path, str], make_file: Any, tmp_path: Path, field: str, value: Any
) -> None:
    root, request_id = gated
    Registry(root).register("churn", [make_file(tmp_path / "w2.bin", "weights 2")], author="alice")
    _edit_request(root, request_id, lambda d: d.__setitem__(field, value))
    before = snapshot(root, ignore=IGNORED)
    line = refused(cli("approve", request_id, "--author", "bob", "-R", root), 5)
    assert "audit log" in line
    assert snapshot(root, ignore=IGNORED) == before


# -- what a clone may carry under .modelreg/ or in place of a manifest -----------------------------


@pytest.fixture
def served(reg_path: Path, make_file: Any, tmp_path: Path) -> Path:
    reg = Registry(reg_path)
    for n in (1, 2):
        reg.register("m", [make_file(tmp_path / f"w{n}.bin", f"weights {n}")])
        reg.promote(f"m@{n}", "production")
    assert ok_run(_modelreg("get-production", "m", "--path", "-R", reg_path))  # warm every cache
    assert ok_run(_modelreg("log", "m", "-R", reg_path))
    return reg_path


def ok_run(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr[-500:]
    return proc.stdout


def _replace_with_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def test_a_fifo_in_the_parse_cache_is_ignored(served: Path) -> None:
    entries = [p for p in (served / ".modelreg" / "cache" / "parsed").rglob("*") if p.is_file()]
    assert entries
    for entry in entries:
        _replace_with_fifo(entry)
    shown = json.loads(ok_run(_modelreg("show", "m@2", "--json", "-R", served)))
    assert shown["version"] == 2


def test_a_fifo_as_the_served_copy_stamp_is_ignored(served: Path) -> None:
    stamps = list((served / ".modelreg" / "cache" / "versions").glob("*.stamp"))
    assert len(stamps) == 1
    _replace_with_fifo(stamps[0])
    path = Path(ok_run(_modelreg("get-production", "m", "--path", "-R", served)).strip())
    assert (path / "w2.bin").read_text() == "weights 2"


def test_a_fifo_in_the_history_view_is_ignored(served: Path) -> None:
    views = [p for p in (served / ".modelreg" / "cache" / "history").iterdir() if p.is_file()]
    assert views
    for view in views:
        _replace_with_fifo(view)
    entries = json.loads(ok_run(_modelreg("log", "m", "--json", "-R", served)))["entries"]
    assert [e["action"] for e in entries][:3] == ["register", "promote", "register"]
    assert json.loads(ok_run(_modelreg("show", "m@production~1", "--json", "-R", served)))["version"] == 1


def test_a_fifo_as_an_output_record_is_ignored(served: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    ok_run(_modelreg("export", "m@2", dest, "-R", served))
    records = list((served / ".modelreg" / "outputs").iterdir())
    assert len(records) == 1
    _replace_with_fifo(records[0])
    # Without a record this machine can trust, the files there are not known to be its own.
    proc = _modelreg("export", "m@1", dest, "-R", served)
    assert proc.returncode == 4 and proc.stderr.count("\n") == 1, proc.stderr
    assert (dest / "w2.bin").read_text() == "weights 2"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_manifest_that_is_a_fifo_or_a_link_to_dev_zero_fails_a_digest_reference_fast(served: Path, kind: str) -> None:
    digest = Registry(served).resolve("m@1").digest.removeprefix("sha256:")
    manifest = served / "models" / "m" / "versions" / "2.yaml"
    manifest.unlink()
    if kind == "fifo":
        os.mkfifo(manifest)
    else:
        manifest.symlink_to("/dev/zero")
    proc = _modelreg("show", f"m@sha256:{digest[:12]}", "--json", "-R", served)
    assert proc.returncode == 5, proc.stderr[-500:]
    assert "Traceback" not in proc.stderr and "2.yaml" in proc.stderr


def test_a_file_planted_in_the_served_copy_is_gone_at_the_next_answer(served: Path) -> None:
    path = Path(ok_run(_modelreg("get-production", "m", "--path", "-R", served)).strip())
    os.chmod(path, 0o755)
    (path / "extra.py").write_text("import os\n")
    (path / "pkg").mkdir()
    again = Path(ok_run(_modelreg("get-production", "m", "--path", "-R", served)).strip())
    assert sorted(p.name for p in again.iterdir()) == ["w2.bin"]


# -- init never writes through a link -----------------------------------------------------------


@pytest.mark.parametrize("name", [".gitattributes", ".gitignore", "models", "audit.jsonl"])
def test_init_refuses_a_link_it_would_write_through(cli: Any, tmp_path: Path, name: str) -> None:
    root, outside = tmp_path / "reg", tmp_path / "outside"
    root.mkdir()
    if name == "models":
        outside.mkdir()
    else:
        outside.write_text("# someone's file\n")
    (root / name).symlink_to(outside)
    before = snapshot(tmp_path)
    line = refused(cli("init", root), 2)
    assert "symbolic link" in line and name in line
    assert snapshot(tmp_path) == before


def test_init_refuses_a_fifo_as_its_gitignore(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    root.mkdir()
    os.mkfifo(root / ".gitignore")
    proc = _modelreg("init", root)
    assert proc.returncode == 2 and ".gitignore" in proc.stderr, proc.stderr
    assert not (root / "modelreg.toml").exists()


# -- stats of a registry with a recall ----------------------------------------------------------------


def test_stats_leaves_removed_versions_out(cli: Any, reg_path: Path, make_file: Any, tmp_path: Path) -> None:
    ok(cli("register", "m", make_file(tmp_path / "a.bin", 3000), "-R", reg_path))
    ok(cli("register", "m", make_file(tmp_path / "b.bin", 5000), "-R", reg_path))
    ok(cli("remove", "m@1", "--reason", "recall", "-R", reg_path))
    ok(cli("gc", "--grace", "0", "-R", reg_path))
    stats = ok(cli("stats", "--json", "-R", reg_path))
    model = stats["models"][0]
    assert (model["versions"], model["logical_bytes"], model["missing_bytes"]) == (1, 5000, 0), model


def test_force_with_missing_approvals_says_approvals_are_never_forced(
    cli: Any, reg_path: Path, make_file: Any, tmp_path: Path
) -> None:
    add_policy(reg_path, '[gates.production]\nmetrics = ["acc >= 0.9"]\napprovals = 1\nallow_force = true')
    ok(cli("register", "m", make_file(tmp_path / "w.bin", "w"), "-m", "acc=0.5", "-R", reg_path))
    line = refused(cli("promote", "m@1", "production", "--force", "-R", reg_path))
    assert "--force never passes approvals" in line and "--force passes" not in line, line
