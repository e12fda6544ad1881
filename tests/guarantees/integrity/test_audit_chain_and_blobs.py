"""Issue 3: the hash-linked audit log, ``log``, ``verify`` and ``export`` (integrity of every byte).

Commands run in-process through Typer's ``CliRunner`` (``cli`` fixture) and as real processes
(``python -m modelreg``, ``run`` fixture). Tampering is done by hand on the files, as a user
or an attacker with write access to the repository would.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import AUTHOR, snapshot, write_file
from support.results import ok

from modelreg.records import yamlio
from modelreg.records.manifest import FileEntry, file_set_digest

ENTRY_KEYS = {"time", "actor", "action", "model", "version", "from_stage", "to_stage", "reason"}
SUBSECOND_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z$")


# -- helpers ---------------------------------------------------------------------------------


def code_of(result: Any) -> int:
    """The exit code of a CliRunner result; a crash (not SystemExit) re-raises its exception."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.stderr
    return result.exit_code


def jout(result: Any) -> Any:
    return json.loads(ok(result).stdout)


def audit_lines(reg: Path) -> list[bytes]:
    return (reg / "audit.jsonl").read_bytes().splitlines(keepends=True)


def audit_entries(reg: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in audit_lines(reg)]


def write_lines(reg: Path, lines: list[bytes]) -> None:
    (reg / "audit.jsonl").write_bytes(b"".join(lines))


def canonical_id(entry: dict[str, Any]) -> str:
    """The documented id: SHA-256 of the canonical JSON of the entry without its id."""
    body = {k: v for k, v in entry.items() if k != "id"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def encode(entry: dict[str, Any]) -> bytes:
    return (json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def verify_json(cli: Any, reg: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = cli("verify", *extra, "-R", reg, "--json")
    code = code_of(result)
    if not result.stdout:  # a failed verify still prints its report; nothing means it crashed
        return code, {"ok": None, "findings": [], "stderr": result.stderr}
    return code, json.loads(result.stdout)


def errors(report: dict[str, Any]) -> list[dict[str, str]]:
    return [f for f in report["findings"] if f["severity"] == "error"]


def blob_path(reg: Path, digest: str) -> Path:
    hexpart = digest.partition(":")[2]
    return reg / "blobs" / "sha256" / hexpart[:2] / hexpart


def flip_byte(path: Path, offset: int) -> None:
    path.chmod(0o644)
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))


def manifest(reg: Path, name: str, number: int) -> Path:
    return reg / "models" / name / "versions" / f"{number}.yaml"


def edit_manifest(reg: Path, name: str, number: int, change: Any, *, fix_digest: bool = False) -> None:
    path = manifest(reg, name, number)
    data = yamlio.loads(path.read_bytes())
    change(data)
    if fix_digest:
        data["digest"] = file_set_digest([FileEntry(**f) for f in data["files"]])
    path.write_text(yamlio.dumps(data))


def files_under(directory: Path) -> list[str]:
    if not directory.exists():
        return []
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if not p.is_dir())


# -- a populated registry ----------------------------------------------------------------------

MODEL_BYTES = bytes(range(256)) * 64  # 16 KiB
SUB_BYTES = b"sub file\n"
TOP_BYTES = b"top file\n"


_TEMPLATES: dict[str, Path] = {}


def from_template(key: str, build: Any, tmp_path: Path, factory: pytest.TempPathFactory) -> None:
    """Build a registry once per session (under ``factory``) and copy it into ``tmp_path``."""
    if key not in _TEMPLATES:
        base = factory.mktemp(f"template-{key}")
        build(base)
        _TEMPLATES[key] = base
    shutil.copytree(_TEMPLATES[key], tmp_path, symlinks=True, dirs_exist_ok=True)


@pytest.fixture
def populated(cli: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """m@1 (model.bin), m@2 (sub/x.bin, top.bin, production; m@1 archived), annotate m@2.

    Audit lines: 1 init, 2 register m@1, 3 register m@2, 4 promote m@1, 5 archive m@1,
    6 promote m@2, 7 annotate m@2.
    """
    from_template("populated", lambda base: build_populated(cli, base), tmp_path, tmp_path_factory)
    return tmp_path / "reg"


def build_populated(cli: Any, tmp_path: Path) -> None:
    reg = tmp_path / "reg"
    ok(cli("init", reg))
    write_file(tmp_path / "in1" / "model.bin", MODEL_BYTES)
    write_file(tmp_path / "in2" / "sub" / "x.bin", SUB_BYTES)
    write_file(tmp_path / "in2" / "top.bin", TOP_BYTES)
    ok(cli("register", "m", tmp_path / "in1" / "model.bin", "-R", reg))
    ok(cli("register", "m", tmp_path / "in2", "-R", reg))
    ok(cli("promote", "m@1", "production", "--reason", "first release", "-R", reg))
    ok(cli("promote", "m@2", "production", "-R", reg))
    ok(cli("annotate", "m@2", "--tag", "team=ml", "-R", reg))


# -- the audit log -----------------------------------------------------------------------------


def test_every_mutating_command_appends_one_linked_entry(cli: Any, tmp_path: Path) -> None:
    reg = tmp_path / "reg"
    write_file(tmp_path / "a.bin", b"a")
    write_file(tmp_path / "b.bin", b"b")
    steps: list[tuple[tuple[Any, ...], list[str]]] = [
        (("init", reg), ["init"]),
        (("init", reg), []),  # idempotent: no entry
        (("register", "m", tmp_path / "a.bin", "-R", reg), ["register"]),
        (("register", "m", tmp_path / "b.bin", "-R", reg), ["register"]),
        (("promote", "m@1", "production", "--reason", "go", "-R", reg), ["promote"]),
        (("promote", "m@1", "production", "-R", reg), []),  # already there: no entry
        (("promote", "m@2", "production", "--reason", "better", "-R", reg), ["archive", "promote"]),
        (("annotate", "m@2", "--description", "the best", "-R", reg), ["annotate"]),
        (("annotate", "m", "--tag", "team=ml", "-R", reg), ["annotate"]),
        (("verify", "-R", reg), []),
        (("log", "-R", reg), []),
        (("list", "-R", reg), []),
    ]
    count = 0
    for args, actions in steps:
        ok(cli(*args))
        entries = audit_entries(reg)
        assert [e["action"] for e in entries[count:]] == actions, args
        count = len(entries)

    entries = audit_entries(reg)
    for i, entry in enumerate(entries):
        assert ENTRY_KEYS | {"id", "prev"} <= set(entry)
        assert SUBSECOND_UTC.match(entry["time"]), entry["time"]
        assert entry["actor"] == AUTHOR
        assert entry["id"] == canonical_id(entry)
        assert entry["prev"] == ([] if i == 0 else [entries[i - 1]["id"]])
    init, r1, r2, p1, arch, p2, a_ver, a_model = entries
    assert (init["model"], init["version"]) == (None, None)
    assert (r1["model"], r1["version"], r1["from_stage"], r1["to_stage"]) == ("m", 1, None, "development")
    assert r1["digest"].startswith("sha256:") and r2["version"] == 2
    assert (p1["version"], p1["from_stage"], p1["to_stage"], p1["reason"]) == (1, "development", "production", "go")
    assert (arch["version"], arch["from_stage"], arch["to_stage"]) == (1, "production", "archived")
    assert "2" in arch["reason"]
    assert (p2["version"], p2["from_stage"], p2["to_stage"], p2["reason"]) == (2, "development", "production", "better")
    assert (a_ver["action"], a_ver["model"], a_ver["version"]) == ("annotate", "m", 2)
    assert (a_model["model"], a_model["version"]) == ("m", None)
    assert jout(cli("verify", "-R", reg, "--json"))["audit_entries"] == len(entries)


def test_edit_of_a_middle_entry_is_named_and_restore_verifies(cli: Any, run: Any, populated: Path) -> None:
    reg = populated
    original = (reg / "audit.jsonl").read_bytes()
    lines = audit_lines(reg)
    entry = json.loads(lines[2])  # line 3: register m@2
    entry["actor"] = "mallory"
    write_lines(reg, [*lines[:2], encode(entry), *lines[3:]])

    code, report = verify_json(cli, reg)
    assert code == 5 and report["ok"] is False
    audit = [f for f in errors(report) if f["kind"] == "audit"]
    assert [f["path"] for f in audit] == [f"{reg / 'audit.jsonl'}:3"]
    assert "line 3" in audit[0]["message"]

    proc = run("verify", "-R", reg)  # a real process, human output
    assert proc.returncode == 5
    assert "audit.jsonl:3" in proc.stdout and "FAILED" in proc.stdout
    assert "Traceback" not in proc.stderr

    (reg / "audit.jsonl").write_bytes(original)
    assert verify_json(cli, reg)[0] == 0
    proc = run("verify", "-R", reg)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK" in proc.stdout


def test_edit_with_recomputed_id_is_caught_by_the_next_entry(cli: Any, populated: Path) -> None:
    reg = populated
    lines = audit_lines(reg)
    entry = json.loads(lines[3])  # line 4: promote m@1
    entry["reason"] = "nobody asked"
    entry["id"] = canonical_id(entry)
    write_lines(reg, [*lines[:3], encode(entry), *lines[4:]])
    code, report = verify_json(cli, reg)
    assert code == 5
    assert [f["path"] for f in errors(report)] == [f"{reg / 'audit.jsonl'}:5"]


@pytest.mark.parametrize("how", ["delete", "swap", "truncate-middle-line"])
def test_deleted_or_reordered_middle_entry_fails_and_restore_passes(cli: Any, populated: Path, how: str) -> None:
    reg = populated
    original = (reg / "audit.jsonl").read_bytes()
    lines = audit_lines(reg)
    if how == "delete":
        tampered, bad_line = [*lines[:3], *lines[4:]], 4  # drop line 4; old line 5 is now 4
    elif how == "swap":
        tampered, bad_line = [*lines[:3], lines[4], lines[3], *lines[5:]], 4  # lines 4 and 5 swapped
    else:
        tampered, bad_line = [*lines[:3], lines[3][:40] + b"\n", *lines[4:]], 4
    write_lines(reg, tampered)
    code, report = verify_json(cli, reg)
    assert code == 5
    paths = [f["path"] for f in errors(report) if f["kind"] == "audit"]
    assert f"{reg / 'audit.jsonl'}:{bad_line}" in paths, report["findings"]

    (reg / "audit.jsonl").write_bytes(original)
    code, report = verify_json(cli, reg)
    assert code == 0 and report["ok"] is True and report["findings"] == []


def test_deleting_the_last_register_entry_is_detected(cli: Any, run: Any, populated: Path, tmp_path: Path) -> None:
    reg = populated
    write_file(tmp_path / "z.bin", b"zzz")
    ok(cli("register", "z", tmp_path / "z.bin", "-R", reg))
    lines = audit_lines(reg)
    assert json.loads(lines[-1])["action"] == "register"
    write_lines(reg, lines[:-1])  # the chain itself is intact: only the registry knows z@1

    code, report = verify_json(cli, reg)
    assert code == 5
    problems = errors(report)
    assert len(problems) == 1 and problems[0]["kind"] == "audit"
    assert "z@1" in problems[0]["message"] and "register" in problems[0]["message"]
    proc = run("verify", "-R", reg)
    assert proc.returncode == 5 and "z@1" in proc.stdout


def test_appending_after_a_torn_tail_repairs_it(cli: Any, populated: Path, tmp_path: Path) -> None:
    reg = populated
    with open(reg / "audit.jsonl", "ab") as fh:
        fh.write(b'{"id":"sha256:00","time":"2026')  # a power cut mid-line
    code, report = verify_json(cli, reg)
    assert code == 0 and [f["kind"] for f in report["findings"]] == ["leftover"]
    write_file(tmp_path / "n.bin", b"n")
    ok(cli("register", "n", tmp_path / "n.bin", "-R", reg))
    code, report = verify_json(cli, reg)
    assert code == 0 and report["findings"] == []
    assert audit_lines(reg)[-1].endswith(b"\n")


# -- log and show ----------------------------------------------------------------------------


def test_log_filters_and_json_shape(cli: Any, run: Any, populated: Path) -> None:
    reg = populated
    everything = jout(cli("log", "-R", reg, "--json"))
    assert set(everything) == {"entries"}
    entries = everything["entries"]
    assert [e["action"] for e in entries] == [
        "init",
        "register",
        "register",
        "promote",
        "archive",
        "promote",
        "annotate",
    ]
    for e in entries:
        assert set(e) >= ENTRY_KEYS
        assert SUBSECOND_UTC.match(e["time"]) and e["actor"] == AUTHOR
    promote = entries[3]
    assert (promote["model"], promote["version"], promote["from_stage"], promote["to_stage"], promote["reason"]) == (
        "m",
        1,
        "development",
        "production",
        "first release",
    )

    model = jout(cli("log", "m", "-R", reg, "--json"))["entries"]
    assert [e["action"] for e in model] == [e["action"] for e in entries[1:]]
    v1 = jout(cli("log", "m@1", "-R", reg, "--json"))["entries"]
    assert [(e["action"], e["to_stage"]) for e in v1] == [
        ("register", "development"),
        ("promote", "production"),
        ("archive", "archived"),
    ]
    assert all(e["version"] == 1 for e in v1)

    assert len(jout(cli("log", "-R", reg, "--json", "--since", "1h"))["entries"]) == 7
    assert jout(cli("log", "-R", reg, "--json", "--since", "2999-01-01"))["entries"] == []
    assert jout(cli("log", "-R", reg, "--json", "--since", "2999-01-01T00:00:00Z"))["entries"] == []
    assert len(jout(cli("log", "-R", reg, "--json", "--since", "2000-01-01"))["entries"]) == 7
    promotes = jout(cli("log", "m", "-R", reg, "--json", "--action", "promote"))["entries"]
    assert [(e["action"], e["version"]) for e in promotes] == [("promote", 1), ("promote", 2)]
    both = jout(cli("log", "-R", reg, "--json", "--action", "promote", "--action", "archive"))["entries"]
    assert [e["action"] for e in both] == ["promote", "archive", "promote"]

    # The same through a real process, and the human table names the move.
    proc = run("log", "m@1", "-R", reg, "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["entries"] == v1
    proc = run("log", "m", "-R", reg)
    assert proc.returncode == 0 and "development->production" in proc.stdout and "first release" in proc.stdout


def test_log_errors(cli: Any, run: Any, populated: Path) -> None:
    reg = populated
    assert code_of(cli("log", "nope", "-R", reg)) == 3
    proc = run("log", "nope", "-R", reg, "--json")
    assert proc.returncode == 3 and proc.stdout == "" and "nope" in proc.stderr
    assert json.loads(proc.stderr.splitlines()[-1])["error"]["message"]
    assert code_of(cli("log", "m@9", "-R", reg)) == 3
    assert code_of(cli("log", "-R", reg, "--since", "last tuesday")) == 2


def test_show_history_comes_from_the_log(cli: Any, populated: Path) -> None:
    reg = populated
    for ref in ("m@1", "m@2"):
        shown = jout(cli("show", ref, "-R", reg, "--json"))
        logged = jout(cli("log", ref, "-R", reg, "--json"))["entries"]
        assert shown["history"] == logged and logged
    assert [e["action"] for e in jout(cli("show", "m@2", "-R", reg, "--json"))["history"]] == [
        "register",
        "promote",
        "annotate",
    ]


# -- verify: blobs, manifests, stage files -----------------------------------------------------


@pytest.fixture
def production(cli: Any, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A registry with p@1 (one 16 KiB file) in production; returns (registry, blob path)."""

    def build(base: Path) -> None:
        ok(cli("init", base / "reg"))
        write_file(base / "in" / "model.bin", MODEL_BYTES)
        ok(cli("register", "p", base / "in" / "model.bin", "--stage", "production", "-R", base / "reg"))

    from_template("production", build, tmp_path, tmp_path_factory)
    reg = tmp_path / "reg"
    blob = blob_path(reg, "sha256:" + hashlib.sha256(MODEL_BYTES).hexdigest())
    assert blob.read_bytes() == MODEL_BYTES
    return reg, blob


def test_flipped_byte_in_a_blob(cli: Any, run: Any, production: tuple[Path, Path], tmp_path: Path) -> None:
    reg, blob = production
    flip_byte(blob, 5000)
    assert blob.stat().st_size == len(MODEL_BYTES)

    code, report = verify_json(cli, reg)
    assert code == 5
    assert [(f["kind"], f["path"]) for f in errors(report)] == [("blob", str(blob))]
    assert "model.bin" in errors(report)[0]["message"]
    proc = run("verify", "-R", reg)
    assert proc.returncode == 5 and blob.name in proc.stdout

    # --quick checks sizes and existence only: same size passes.
    code, report = verify_json(cli, reg, "--quick")
    assert code == 0 and report["ok"] is True

    out = tmp_path / "out"
    proc = run("get-production", "p", "--output", out, "-R", reg)
    assert proc.returncode == 5, proc.stderr
    assert "digest" in proc.stderr and "Traceback" not in proc.stderr
    assert files_under(out) == []  # the partial file (and its temporary) removed

    result = cli("get-production", "p", "--path", "-R", reg)
    assert code_of(result) == 5 and result.stdout == ""
    assert not (reg / ".modelreg" / "cache" / "versions" / blob.name).exists()
    proc = run("get-production", "p", "--path", "-R", reg)
    assert proc.returncode == 5 and proc.stdout == ""

    exported = tmp_path / "exported"
    assert code_of(cli("export", "p@1", exported, "-R", reg)) == 5
    assert files_under(exported) == []

    # Bytes back as registered: everything passes again.
    flip_byte(blob, 5000)
    assert verify_json(cli, reg)[0] == 0
    ok(cli("get-production", "p", "--output", out, "-R", reg))
    assert (out / "model.bin").read_bytes() == MODEL_BYTES


def test_truncated_blob_fails_quick_verify(cli: Any, production: tuple[Path, Path], tmp_path: Path) -> None:
    reg, blob = production
    blob.chmod(0o644)
    blob.write_bytes(MODEL_BYTES[:-1])
    code, report = verify_json(cli, reg, "--quick")
    assert code == 5 and [f["path"] for f in errors(report)] == [str(blob)]
    assert "size" in errors(report)[0]["message"]
    assert code_of(cli("export", "p", tmp_path / "out", "-R", reg)) == 5
    assert files_under(tmp_path / "out") == []
    blob.unlink()
    code, report = verify_json(cli, reg, "--quick")
    assert code == 5 and errors(report)[0]["kind"] == "missing"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.update(digest="sha256:" + "0" * 64), id="version-digest"),
        pytest.param(lambda d: d["files"][0].update(size=d["files"][0]["size"] + 1), id="file-size"),
        pytest.param(lambda d: d["files"][0].update(digest="sha256:" + "1" * 64), id="file-digest"),
        pytest.param(lambda d: d.update(initial_stage="limbo"), id="initial-stage"),
        pytest.param(lambda d: d.update(version=7), id="version-number"),
        pytest.param(lambda d: d.pop("files"), id="no-files"),
    ],
)
def test_hand_edited_manifest_is_named(cli: Any, run: Any, populated: Path, change: Any) -> None:
    reg = populated
    edit_manifest(reg, "m", 1, change)
    code, report = verify_json(cli, reg)
    assert code == 5, report
    named = {f["path"] for f in errors(report)}
    assert str(manifest(reg, "m", 1)) in named, report["findings"]
    proc = run("verify", "-R", reg)
    assert proc.returncode == 5 and "versions/1.yaml" in proc.stdout


def test_stage_file_with_an_unknown_stage(cli: Any, populated: Path) -> None:
    reg = populated
    stages = reg / "models" / "m" / "stages.yaml"
    stages.write_text(stages.read_text().replace("archived", "limbo"))
    code, report = verify_json(cli, reg)
    assert code == 5
    found = [f for f in errors(report) if f["path"] == str(stages)]
    assert found and "limbo" in found[0]["message"]


def test_verify_one_model_and_unknown_model(cli: Any, populated: Path) -> None:
    assert verify_json(cli, populated, "m")[0] == 0
    assert code_of(cli("verify", "nope", "-R", populated)) == 3


def test_forged_but_self_consistent_manifest_is_caught(cli: Any, populated: Path) -> None:
    reg = populated
    other = yamlio.loads(manifest(reg, "m", 2).read_bytes())["files"][1]  # top.bin of m@2

    def repoint(data: dict[str, Any]) -> None:
        data["files"][0].update(size=other["size"], digest=other["digest"])

    edit_manifest(reg, "m", 1, repoint, fix_digest=True)
    code, report = verify_json(cli, reg)
    assert code == 5
    assert str(manifest(reg, "m", 1)) in {f["path"] for f in errors(report)}


# -- export and safe output paths --------------------------------------------------------------


def test_export_writes_verified_files(cli: Any, run: Any, populated: Path, tmp_path: Path) -> None:
    reg = populated
    dest = tmp_path / "export" / "m2"
    doc = jout(cli("export", "m@2", dest, "-R", reg, "--json"))
    assert doc["version"] == 2 and Path(doc["output"]) == dest.resolve()
    assert files_under(dest) == ["sub/x.bin", "top.bin"]
    assert (dest / "sub" / "x.bin").read_bytes() == SUB_BYTES
    assert (dest / "top.bin").read_bytes() == TOP_BYTES
    proc = run("export", "m@1", tmp_path / "export" / "m1", "-R", reg)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "export" / "m1" / "model.bin").read_bytes() == MODEL_BYTES


@pytest.mark.parametrize("evil", ["../../escaped.bin", "sub/../../../escaped.bin", "ABSOLUTE"])
def test_export_refuses_unsafe_manifest_paths(cli: Any, run: Any, populated: Path, tmp_path: Path, evil: str) -> None:
    reg = populated
    if evil == "ABSOLUTE":
        evil = str(tmp_path / "abs-escaped.bin")

    def set_path(data: dict[str, Any]) -> None:
        data["files"][1]["path"] = evil  # top.bin of m@2

    edit_manifest(reg, "m", 2, set_path)
    dest = tmp_path / "out" / "a" / "b" / "dest"
    before = snapshot(tmp_path, ignore=["reg/.modelreg"])

    result = cli("export", "m@2", dest, "-R", reg)
    assert code_of(result) == 2 and "refusing" in result.stderr
    proc = run("export", "m@2", dest, "-R", reg, "--json")
    assert proc.returncode == 2 and proc.stdout == ""
    assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"]
    assert code_of(cli("get-production", "m", "--output", dest, "-R", reg)) == 2
    assert code_of(cli("get-production", "m", "--path", "-R", reg)) == 2

    after = snapshot(tmp_path, ignore=["reg/.modelreg"])
    assert {k: v for k, v in after.items() if v[1] != "dir"} == {k: v for k, v in before.items() if v[1] != "dir"}
    assert not list(tmp_path.rglob("*escaped.bin"))
    assert files_under(tmp_path / "out") == []

    # verify reports the manifest too (its digest and its path).
    code, report = verify_json(cli, reg)
    assert code == 5
    assert str(manifest(reg, "m", 2)) in {f["path"] for f in errors(report)}


def test_export_refuses_to_write_through_symlinks(cli: Any, populated: Path, tmp_path: Path) -> None:
    reg = populated
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "sub").symlink_to(outside, target_is_directory=True)

    result = cli("export", "m@2", dest, "-R", reg)
    assert code_of(result) == 2 and "symlink" in result.stderr
    assert list(outside.iterdir()) == []
    assert code_of(cli("get-production", "m", "--output", dest, "-R", reg)) == 2
    assert list(outside.iterdir()) == []

    # A symlinked file in the destination is not written through either.
    target = outside / "target.bin"
    target.write_bytes(b"precious")
    dest2 = tmp_path / "dest2"
    dest2.mkdir()
    (dest2 / "top.bin").symlink_to(target)
    assert code_of(cli("export", "m@2", dest2, "-R", reg)) == 2
    assert target.read_bytes() == b"precious"
    assert (dest2 / "top.bin").is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == ["target.bin"]


def test_export_leaves_no_temporary_files(cli: Any, populated: Path, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    ok(cli("export", "m@2", dest, "-R", populated))
    ok(cli("export", "m@2", dest, "-R", populated))  # over an earlier export: replaced, verified
    assert files_under(dest) == ["sub/x.bin", "top.bin"]
    assert not [n for n in os.listdir(dest) if n.startswith(".")]


# -- tampered entries of an unexpected shape ---------------------------------------------------


def _tamper_line(reg: Path, number: int, change: Any) -> None:
    lines = audit_lines(reg)
    entry = json.loads(lines[number - 1])
    change(entry)
    lines[number - 1] = encode(entry)
    write_lines(reg, lines)


TAMPER_SHAPES = [
    pytest.param(3, lambda e: e.update(prev=[{"a": 1}]), id="prev-holds-an-object"),
    pytest.param(2, lambda e: e.pop("model"), id="register-without-model"),
    pytest.param(2, lambda e: e.update(model=["m"]), id="model-is-a-list"),
]


@pytest.mark.parametrize(("line", "change"), TAMPER_SHAPES)
def test_verify_reports_entries_of_an_unexpected_shape(cli: Any, populated: Path, line: int, change: Any) -> None:
    _tamper_line(populated, line, change)
    code, report = verify_json(cli, populated)
    assert code == 5, report
    assert any(f["kind"] == "audit" for f in errors(report))


def test_change_after_a_malformed_prev_is_not_an_internal_error(cli: Any, populated: Path, tmp_path: Path) -> None:
    _tamper_line(populated, 4, lambda e: e.update(prev=5))
    write_file(tmp_path / "q.bin", b"q")
    result = cli("register", "q", tmp_path / "q.bin", "-R", populated)
    assert code_of(result) in (0, 5), result.stderr
    assert "internal error" not in result.stderr
