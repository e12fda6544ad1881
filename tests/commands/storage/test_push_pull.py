"""The remote side end to end through the CLI: push, pull, the teammate's clone, failures.

Real ``python -m modelreg`` processes (and some in-process CliRunner calls) against a directory
remote and a real S3 server: SeaweedFS ``weed mini`` on loopback, started once for the module.
The AWS credential chain sees only the test server's key (see ``aws_env``); every endpoint is
on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.remotes import TRACKED, configure_remote
from support.s3server import SeaweedS3, free_port

BUCKET = "modelreg-cli-tests"
MiB = 1024 * 1024
# What git carries from a registry: everything but blobs/ and .modelreg/ (both git-ignored).
BLOB_KEY = re.compile(r"(^|/)sha256/[0-9a-f]{2}/[0-9a-f]{64}$")
SUMMARY_KEYS = {"direction", "remote", "transferred", "bytes", "already_present", "published"}

Proc = Any  # subprocess.CompletedProcess[str] or typer.testing.Result


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    """The session's S3 server, with this module's bucket."""
    s3_server.create_bucket(BUCKET)
    return s3_server


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class RemoteSide:
    """A remote blob store as the test sees it: how to configure it, and its raw objects."""

    def __init__(self, kind: str, url: str, *, shown: str, endpoint: str | None = None, **where: Any) -> None:
        self.kind = kind
        self.url = url  # what goes into modelreg.toml
        self.shown = shown  # what `push --json` reports as "remote"
        self.endpoint = endpoint
        self.server: SeaweedS3 | None = where.get("server")
        self.prefix: str = where.get("prefix", "")
        self.path: Path | None = where.get("path")

    @classmethod
    def s3(cls, server: SeaweedS3, endpoint: str | None = None) -> RemoteSide:
        prefix = f"cli-{secrets.token_hex(6)}/blobs"
        url = f"s3://{BUCKET}/{prefix}"
        return cls("s3", url, shown=url, endpoint=endpoint or server.endpoint_url, server=server, prefix=prefix)

    @classmethod
    def directory(cls, path: Path, url: str) -> RemoteSide:
        path.mkdir(exist_ok=True)  # a directory remote must exist: push never creates it
        return cls("dir", url, shown=str(path), path=path)

    def configure(self, reg: Path, *, push_on_register: bool = False) -> None:
        configure_remote(reg, self.url, self.endpoint, "us-east-1" if self.kind == "s3" else None, push_on_register)

    def _key(self, digest: str) -> str:
        hex_digest = digest.removeprefix("sha256:")
        return f"sha256/{hex_digest[:2]}/{hex_digest}"

    def digests(self) -> set[str]:
        if self.server is not None:
            pages = self.server.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=self.prefix)
            keys = [item["Key"] for page in pages for item in page.get("Contents", []) or []]
        else:
            assert self.path is not None
            keys = [p.as_posix() for p in self.path.rglob("*") if p.is_file()] if self.path.exists() else []
        # blobs only: beside them a push publishes the records (records/, published.json)
        return {
            "sha256:" + key.rsplit("/", 1)[-1]
            for key in keys
            if re.search(r"(^|/)sha256/[0-9a-f]{2}/[0-9a-f]{64}$", key)
        }

    def read(self, digest: str) -> bytes:
        if self.server is not None:
            body = self.server.client().get_object(Bucket=BUCKET, Key=f"{self.prefix}/{self._key(digest)}")["Body"]
            return bytes(body.read())
        assert self.path is not None
        return (self.path / self._key(digest)).read_bytes()

    def overwrite(self, digest: str, data: bytes) -> None:
        if self.server is not None:
            self.server.client().put_object(Bucket=BUCKET, Key=f"{self.prefix}/{self._key(digest)}", Body=data)
        else:
            assert self.path is not None
            target = self.path / self._key(digest)
            target.chmod(0o644)
            target.write_bytes(data)

    def delete(self, digest: str) -> None:
        if self.server is not None:
            self.server.client().delete_object(Bucket=BUCKET, Key=f"{self.prefix}/{self._key(digest)}")
        else:
            assert self.path is not None
            (self.path / self._key(digest)).unlink()


@pytest.fixture(params=["dir", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> RemoteSide:
    """A fresh, empty remote of each kind. The directory one is configured relative to the
    registry (``../shared-blobs``), so a clone beside the registry resolves it the same."""
    if request.param == "s3":
        return RemoteSide.s3(request.getfixturevalue("aws_env"))
    return RemoteSide.directory(tmp_path / "shared-blobs", "../shared-blobs")


@pytest.fixture
def s3_remote(aws_env: SeaweedS3) -> RemoteSide:
    return RemoteSide.s3(aws_env)


# -- helpers ----------------------------------------------------------------------------------


def clone_tracked(src: Path, dest: Path) -> Path:
    """What a teammate gets from git: the tracked files only (no blobs/, no .modelreg/)."""
    dest.mkdir()
    for name in TRACKED:
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name)
        elif (src / name).exists():
            shutil.copy2(src / name, dest / name)
    return dest


def code(proc: Proc) -> int:
    return proc.returncode if isinstance(proc, subprocess.CompletedProcess) else proc.exit_code


def doc(proc: Proc) -> Any:
    """The JSON document of a successful --json command."""
    assert code(proc) == 0, f"exit {code(proc)}: {proc.stderr}"
    return json.loads(proc.stdout)


def failure(proc: Proc, exit_code: int, *, json_mode: bool = False) -> str:
    """Assert a clean failure (exit code, one stderr line, nothing on stdout); its message."""
    assert code(proc) == exit_code, f"expected exit {exit_code}, got {code(proc)}: {proc.stdout}{proc.stderr}"
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == (2 if json_mode else 1), proc.stderr
    assert lines[0].startswith("error: ")
    if json_mode:
        error = json.loads(lines[1])["error"]
        assert error["message"] == lines[0].removeprefix("error: ")
        return str(error["code"])
    return lines[0]


def local_blob(reg: Path, digest: str) -> Path:
    hex_digest = digest.removeprefix("sha256:")
    return reg / "blobs" / "sha256" / hex_digest[:2] / hex_digest


def local_blob_files(reg: Path) -> dict[str, bytes]:
    """Every file under ``reg/blobs`` (blobs and any leftovers), by path relative to it."""
    root = reg / "blobs"
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def assert_blob_store_sound(reg: Path) -> None:
    """Only blobs whose bytes match their names: no partial or temporary files left behind."""
    for rel, data in local_blob_files(reg).items():
        assert rel.startswith("sha256/"), f"leftover {rel} in blobs/"
        assert _sha(data) == "sha256:" + rel.rsplit("/", 1)[-1], f"corrupt blob {rel}"


def files_under(directory: Path) -> dict[str, bytes]:
    if not directory.exists():
        return {}
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def verify_clean(run: Callable[..., Any], reg: Path) -> None:
    report = doc(run("verify", "-R", reg, "--json"))
    assert report["ok"] is True, report
    assert not [f for f in report["findings"] if f["severity"] == "error"], report


def make_model(make_file: Callable[..., Path], root: Path, seed: str) -> dict[str, bytes]:
    """A small model directory (nested files) under ``root``; its files by relative path."""
    make_file(root / "weights.bin", 150_000 + len(seed))
    make_file(root / "config" / "params.json", json.dumps({"seed": seed, "layers": 3}))
    make_file(root / "tokenizer.txt", f"vocab for {seed}\n" * 50)
    return files_under(root)


# -- push -------------------------------------------------------------------------------------


def test_push_uploads_only_what_the_remote_lacks(
    remote: RemoteSide, reg_path: Path, run: Callable[..., Any], cli: Callable[..., Any], make_file: Callable[..., Path]
) -> None:
    remote.configure(reg_path)
    a = make_file("w/a.bin", 50_000).read_bytes()
    b = make_file("w/b.bin", 60_000).read_bytes()
    c = make_file("c.bin", 70_000).read_bytes()
    assert doc(cli("register", "-R", reg_path, "m", "w/a.bin", "w/b.bin", "--json"))["version"] == 1
    assert doc(cli("register", "-R", reg_path, "m", "w/b.bin", "c.bin", "--json"))["version"] == 2
    assert remote.digests() == set()

    # NAME@REF: just that version's blobs.
    first = doc(run("push", "m@1", "-R", reg_path, "--json"))
    assert set(first) == SUMMARY_KEYS
    assert first == {
        "direction": "push",
        "published": first["published"],
        "remote": remote.shown,
        "transferred": 2,
        "bytes": len(a) + len(b),
        "already_present": 0,
    }
    assert remote.digests() == {_sha(a), _sha(b)}

    # Everything: only c is missing (b is shared by both versions and counted once).
    second = doc(run("push", "-R", reg_path, "--json"))
    assert (second["transferred"], second["bytes"], second["already_present"]) == (1, len(c), 2)
    # Nothing left to do.
    third = doc(run("push", "-R", reg_path, "--json"))
    assert (third["direction"], third["transferred"], third["bytes"], third["already_present"]) == ("push", 0, 0, 3)
    assert remote.digests() == {_sha(a), _sha(b), _sha(c)}
    for data in (a, b, c):
        assert remote.read(_sha(data)) == data

    human = run("push", "m", "-R", reg_path)
    assert code(human) == 0, human.stderr
    assert "0 blobs" in human.stdout and "3 already there" in human.stdout
    assert "{" not in human.stdout and human.stderr == ""


def test_register_push_flag_and_push_on_register(
    remote: RemoteSide, reg_path: Path, run: Callable[..., Any], cli: Callable[..., Any], make_file: Callable[..., Path]
) -> None:
    remote.configure(reg_path)
    one = make_file("one.bin", 20_000).read_bytes()
    two = make_file("two.bin", 21_000).read_bytes()
    three = make_file("three.bin", 22_000).read_bytes()

    pushed = doc(run("register", "-R", reg_path, "m", "one.bin", "--push", "--json"))
    assert pushed["version"] == 1 and pushed["files"][0]["digest"] == _sha(one)  # the version, not a summary
    assert remote.digests() == {_sha(one)}

    assert doc(cli("register", "-R", reg_path, "m", "two.bin", "--json"))["version"] == 2
    assert remote.digests() == {_sha(one)}, "register without --push must not upload"

    remote.configure(reg_path, push_on_register=True)
    assert doc(cli("register", "-R", reg_path, "m", "three.bin", "--json"))["version"] == 3
    assert remote.digests() == {_sha(one), _sha(three)}
    assert _sha(two) not in remote.digests()


# -- the teammate's clone ---------------------------------------------------------------------


def _git(*args: Any, cwd: Path) -> str:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "A",
        "GIT_AUTHOR_EMAIL": "a@example.invalid",
        "GIT_COMMITTER_NAME": "A",
        "GIT_COMMITTER_EMAIL": "a@example.invalid",
    }
    done = subprocess.run(
        [git, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_teammate_flow_through_git_and_s3(
    s3_remote: RemoteSide,
    tmp_path: Path,
    run: Callable[..., Any],
    cli: Callable[..., Any],
    make_file: Callable[..., Path],
) -> None:
    a = tmp_path / "alice"
    assert code(run("init", a)) == 0
    s3_remote.configure(a)
    make_model(make_file, tmp_path / "train1", "v1")
    v2_files = make_model(make_file, tmp_path / "train2", "v2")
    assert doc(run("register", "-R", a, "clf", tmp_path / "train1", "--metric", "acc=0.8", "--json"))["version"] == 1
    assert doc(run("register", "-R", a, "clf", tmp_path / "train2", "--metric", "acc=0.9", "--json"))["version"] == 2
    assert code(run("promote", "-R", a, "clf@1", "staging")) == 0
    assert code(run("promote", "-R", a, "clf@2", "production", "--reason", "better")) == 0
    pushed = doc(run("push", "-R", a, "--json"))
    assert pushed["transferred"] == 6 and pushed["remote"] == s3_remote.url

    # Alice commits the registry; Bob clones it: manifests come, blobs do not.
    _git("init", "-q", "-b", "main", cwd=a)
    _git("add", "-A", cwd=a)
    _git("commit", "-q", "-m", "clf v2 in production", cwd=a)
    b = tmp_path / "bob"
    _git("clone", "-q", a, b, cwd=tmp_path)
    tracked = set(_git("ls-files", cwd=b).split())
    assert {"modelreg.toml", ".gitignore", ".gitattributes", "audit.jsonl"} <= tracked
    assert all(p.startswith("models/") for p in tracked - set(TRACKED)), tracked
    assert not (b / "blobs").exists() and not (b / ".modelreg").exists()

    # get-production --output: Bob's model directory, every byte verified.
    got = doc(run("get-production", "clf", "-R", b, "--output", tmp_path / "model", "--json"))
    assert got["version"] == 2 and got["stage"] == "production"
    assert files_under(tmp_path / "model") == v2_files
    # --path: the verified cached copy inside Bob's registry (from the now-local blobs).
    where = run("get-production", "clf", "-R", b, "--path")
    assert code(where) == 0, where.stderr
    cached = Path(where.stdout.strip())
    assert cached.is_dir() and cached.resolve().is_relative_to(b.resolve())
    assert files_under(cached) == v2_files

    # pull: first just one version, then everything; then nothing is left.
    one = doc(run("pull", "clf@1", "-R", b, "--json"))
    assert (one["direction"], one["remote"], one["transferred"], one["already_present"]) == (
        "pull",
        s3_remote.url,
        3,
        0,
    )
    everything = doc(run("pull", "-R", b, "--json"))
    assert (everything["transferred"], everything["bytes"], everything["already_present"]) == (0, 0, 6)
    verify_clean(run, b)
    assert local_blob_files(b).keys() == local_blob_files(a).keys()
    assert_blob_store_sound(b)
    # Nothing was written into the clone's tracked files.
    assert _git("status", "--porcelain", cwd=b) == ""


def test_pull_in_a_fresh_clone_fetches_everything(
    remote: RemoteSide,
    reg_path: Path,
    tmp_path: Path,
    run: Callable[..., Any],
    cli: Callable[..., Any],
    make_file: Callable[..., Path],
) -> None:
    remote.configure(reg_path)
    make_model(make_file, tmp_path / "t", "x")
    assert code(cli("register", "-R", reg_path, "m", tmp_path / "t")) == 0
    assert code(cli("register", "-R", reg_path, "m", tmp_path / "t", "--tag", "again=1")) == 0  # same blobs
    assert code(cli("push", "-R", reg_path)) == 0
    b = clone_tracked(reg_path, tmp_path / "clone")
    unpulled = doc(run("verify", "-R", b, "--json"))
    assert any("pull" in f["message"] for f in unpulled["findings"]), unpulled
    pulled = doc(run("pull", "-R", b, "--json"))
    assert (pulled["transferred"], pulled["already_present"]) == (3, 0)
    assert pulled["bytes"] == sum(len(v) for v in files_under(tmp_path / "t").values())
    verify_clean(run, b)
    exported = run("export", "m@2", tmp_path / "exported", "-R", b)
    assert code(exported) == 0, exported.stderr
    assert files_under(tmp_path / "exported") == files_under(tmp_path / "t")


def test_modelreg_remote_overrides_the_configured_url(
    s3_remote: RemoteSide,
    reg_path: Path,
    tmp_path: Path,
    run: Callable[..., Any],
    cli: Callable[..., Any],
    make_file: Callable[..., Path],
) -> None:
    s3_remote.configure(reg_path)
    data = make_file("model.bin", 40_000).read_bytes()
    assert code(cli("register", "-R", reg_path, "m", "model.bin", "--stage", "production")) == 0
    elsewhere = tmp_path / "override-remote"
    elsewhere.mkdir()
    summary = doc(run("push", "-R", reg_path, "--json", env={"MODELREG_REMOTE": str(elsewhere)}))
    assert summary["remote"] == str(elsewhere) and summary["transferred"] == 1
    blobs = {k: v for k, v in files_under(elsewhere).items() if BLOB_KEY.search(k)}
    assert blobs == {f"sha256/{_sha(data)[7:9]}/{_sha(data)[7:]}": data}
    assert (elsewhere / "published.json").is_file()  # the records went with the bytes
    assert s3_remote.digests() == set(), "the configured S3 remote must not be used"

    # A clone fetches from the override too (a file:// URL this time), in-process.
    b = clone_tracked(reg_path, tmp_path / "clone")
    got = cli("get-production", "m", "-R", b, "--output", tmp_path / "out", env={"MODELREG_REMOTE": elsewhere.as_uri()})
    assert code(got) == 0, got.stderr
    assert files_under(tmp_path / "out") == {"model.bin": data}
    # Without the override, the configured (empty) S3 remote is asked: not there -> exit 3.
    c = clone_tracked(reg_path, tmp_path / "clone2")
    missing = run("get-production", "m", "-R", c, "--output", tmp_path / "out2")
    assert s3_remote.url in failure(missing, 3)


# -- failures ---------------------------------------------------------------------------------


def _registry_with_models(reg: Path, cli: Callable[..., Any], make_file: Callable[..., Path]) -> None:
    make_file("a.bin", 30_000)
    make_file("b.bin", 31_000)
    assert code(cli("register", "-R", reg, "m", "a.bin", "b.bin")) == 0
    assert code(cli("register", "-R", reg, "m", "b.bin")) == 0
    assert code(cli("promote", "-R", reg, "m@1", "production")) == 0


def test_unreachable_remote_push_fails_fast_and_loses_nothing(
    aws_env: SeaweedS3,
    reg_path: Path,
    run: Callable[..., Any],
    cli: Callable[..., Any],
    make_file: Callable[..., Path],
    tree_snapshot: Callable[..., dict[str, tuple[int, str]]],
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    configure_remote(reg_path, f"s3://{BUCKET}/unreachable", endpoint, "us-east-1")
    _registry_with_models(reg_path, cli, make_file)
    listed = doc(run("list", "m", "-R", reg_path, "--json"))
    before = tree_snapshot(reg_path, ignore=(".modelreg",))

    started = time.monotonic()
    pushed = run("push", "-R", reg_path)
    assert time.monotonic() - started < 15
    message = failure(pushed, 4)
    assert "cannot reach" in message and endpoint in message
    assert failure(run("push", "m@1", "-R", reg_path, "--json"), 4, json_mode=True) == "remote_unavailable"

    assert tree_snapshot(reg_path, ignore=(".modelreg",)) == before
    assert doc(run("list", "m", "-R", reg_path, "--json")) == listed
    verify_clean(run, reg_path)


def test_register_push_with_unreachable_remote_keeps_the_version(
    aws_env: SeaweedS3, reg_path: Path, run: Callable[..., Any], make_file: Callable[..., Path]
) -> None:
    configure_remote(reg_path, f"s3://{BUCKET}/unreachable", f"http://127.0.0.1:{free_port()}", "us-east-1")
    make_file("a.bin", 1000)
    started = time.monotonic()
    registered = run("register", "-R", reg_path, "m", "a.bin", "--push")
    assert time.monotonic() - started < 15
    assert "cannot reach" in failure(registered, 4)
    # The register itself is complete and sound; only the upload is still to do.
    assert [v["version"] for v in doc(run("list", "m", "-R", reg_path, "--json"))["versions"]] == [1]
    verify_clean(run, reg_path)


def test_register_push_failure_says_the_version_was_registered(
    aws_env: SeaweedS3, reg_path: Path, run: Callable[..., Any], make_file: Callable[..., Path]
) -> None:
    configure_remote(reg_path, f"s3://{BUCKET}/unreachable", f"http://127.0.0.1:{free_port()}", "us-east-1")
    make_file("a.bin", 1000)
    message = failure(run("register", "-R", reg_path, "m", "a.bin", "--push"), 4)
    assert "m@1" in message and "modelreg push" in message, message


def test_push_refuses_to_spread_a_corrupt_local_blob(
    remote: RemoteSide, reg_path: Path, run: Callable[..., Any], cli: Callable[..., Any], make_file: Callable[..., Path]
) -> None:
    remote.configure(reg_path)
    data = make_file("a.bin", 5000).read_bytes()
    assert code(cli("register", "-R", reg_path, "m", "a.bin")) == 0
    blob = local_blob(reg_path, _sha(data))
    blob.chmod(0o644)
    blob.write_bytes(b"X" + data[1:])
    assert "does not match" in failure(run("push", "-R", reg_path), 5)
    assert remote.digests() == set()


def test_concurrent_pushes_both_succeed(
    s3_remote: RemoteSide,
    reg_path: Path,
    tmp_path: Path,
    run: Callable[..., Any],
    cli: Callable[..., Any],
    make_file: Callable[..., Path],
) -> None:
    s3_remote.configure(reg_path)
    for i in range(6):
        make_file(f"f{i}.bin", 10_000 + i)
    assert code(cli("register", "-R", reg_path, "m", *(f"f{i}.bin" for i in range(6)))) == 0
    command = [sys.executable, "-m", "modelreg", "push", "-R", str(reg_path), "--json"]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [proc.communicate(timeout=60) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], results
    summaries = [json.loads(out) for out, _err in results]
    assert all(s["transferred"] + s["already_present"] == 6 for s in summaries)
    assert sum(s["transferred"] for s in summaries) >= 6
    assert len(s3_remote.digests()) == 6
    assert doc(run("push", "-R", reg_path, "--json"))["transferred"] == 0


def test_clone_with_unreachable_remote_writes_nothing(
    aws_env: SeaweedS3,
    reg_path: Path,
    tmp_path: Path,
    run: Callable[..., Any],
    cli: Callable[..., Any],
    make_file: Callable[..., Path],
) -> None:
    configure_remote(reg_path, f"s3://{BUCKET}/unreachable", f"http://127.0.0.1:{free_port()}", "us-east-1")
    _registry_with_models(reg_path, cli, make_file)
    b = clone_tracked(reg_path, tmp_path / "clone")
    started = time.monotonic()
    got = run("get-production", "m", "-R", b, "--output", tmp_path / "model")
    assert time.monotonic() - started < 15
    assert "cannot reach" in failure(got, 4)
    assert files_under(tmp_path / "model") == {}
    assert "cannot reach" in failure(run("get-production", "m", "-R", b, "--path"), 4)
    assert "cannot reach" in failure(run("pull", "-R", b), 4)
    assert local_blob_files(b) == {}
    # Asking only which version is in production still works: path null and a warning.
    meta = run("get-production", "m", "-R", b, "--json")
    assert meta.returncode == 0, meta.stderr
    assert json.loads(meta.stdout)["path"] is None and "cannot reach" in meta.stderr


@pytest.mark.parametrize(
    ("key_id", "secret"),
    [("modelreg-test-key", "wrong-secret"), ("nobody-has-this-key", "whatever"), (None, None)],
    ids=["bad-secret", "unknown-key", "no-credentials"],
)
def test_wrong_credentials_exit_4(
    s3_remote: RemoteSide,
    reg_path: Path,
    tmp_path: Path,
    run: Callable[..., Any],
    cli: Callable[..., Any],
    make_file: Callable[..., Path],
    key_id: str | None,
    secret: str | None,
) -> None:
    s3_remote.configure(reg_path)
    _registry_with_models(reg_path, cli, make_file)
    bad = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}
    assert "credentials" in failure(run("push", "-R", reg_path, env=bad), 4)
    assert s3_remote.digests() == set()
    assert doc(run("push", "-R", reg_path, "--json"))["transferred"] == 2  # right credentials: fine
    if key_id is None:
        return  # the clone's side of refused credentials: checked with the keys that are wrong
    b = clone_tracked(reg_path, tmp_path / "clone")
    assert "credentials" in failure(run("get-production", "m", "-R", b, "--output", tmp_path / "o", env=bad), 4)
    assert files_under(tmp_path / "o") == {}
    assert local_blob_files(b) == {}


def test_missing_bucket_is_not_found(
    aws_env: SeaweedS3,
    reg_path: Path,
    run: Callable[..., Any],
    cli: Callable[..., Any],
    make_file: Callable[..., Path],
) -> None:
    configure_remote(reg_path, "s3://modelreg-cli-no-such-bucket/p", aws_env.endpoint_url, "us-east-1")
    _registry_with_models(reg_path, cli, make_file)
    assert "modelreg-cli-no-such-bucket" in failure(run("push", "-R", reg_path), 3)


def test_object_corrupted_on_the_remote_is_refused(
    remote: RemoteSide,
    reg_path: Path,
    tmp_path: Path,
    run: Callable[..., Any],
    cli: Callable[..., Any],
    make_file: Callable[..., Path],
) -> None:
    remote.configure(reg_path)
    _registry_with_models(reg_path, cli, make_file)
    assert doc(cli("push", "-R", reg_path, "--json"))["transferred"] == 2
    good = (tmp_path / "a.bin").read_bytes()
    victim = (tmp_path / "b.bin").read_bytes()
    tampered = bytes([victim[0] ^ 0xFF]) + victim[1:]  # same size, different bytes
    remote.overwrite(_sha(victim), tampered)
    assert remote.read(_sha(victim)) == tampered

    b = clone_tracked(reg_path, tmp_path / "clone")
    pulled = run("pull", "-R", b)
    assert "does not match" in failure(pulled, 5)
    assert not local_blob(b, _sha(victim)).exists()
    assert_blob_store_sound(b)
    assert failure(run("pull", "m@2", "-R", b, "--json"), 5, json_mode=True) == "digest_mismatch"
    assert not local_blob(b, _sha(victim)).exists()

    got = run("get-production", "m", "-R", b, "--output", tmp_path / "model")
    assert "does not match" in failure(got, 5)
    assert tampered not in files_under(tmp_path / "model").values()
    assert failure(run("get-production", "m", "-R", b, "--path"), 5)
    assert not local_blob(b, _sha(victim)).exists()
    assert_blob_store_sound(b)
    # The good blob may have been fetched; the origin registry is untouched.
    assert set(local_blob_files(b)) <= {local_blob(b, _sha(good)).relative_to(b / "blobs").as_posix()}
    verify_clean(run, reg_path)


def test_failed_get_production_output_leaves_no_partial_model(
    tmp_path: Path, reg_path: Path, run: Callable[..., Any], cli: Callable[..., Any], make_file: Callable[..., Path]
) -> None:
    remote = RemoteSide.directory(tmp_path / "shared-blobs", "../shared-blobs")
    remote.configure(reg_path)
    _registry_with_models(reg_path, cli, make_file)  # m@1 = a.bin, b.bin in production
    assert code(cli("push", "-R", reg_path)) == 0
    victim = (tmp_path / "b.bin").read_bytes()
    remote.overwrite(_sha(victim), b"x" + victim[1:])
    b = clone_tracked(reg_path, tmp_path / "clone")
    failure(run("get-production", "m", "-R", b, "--output", tmp_path / "model"), 5)
    assert files_under(tmp_path / "model") == {}, "a failed get-production left a partial model behind"


def test_missing_blob_without_a_remote_names_pull_and_push(
    reg_path: Path, tmp_path: Path, run: Callable[..., Any], cli: Callable[..., Any], make_file: Callable[..., Path]
) -> None:
    _registry_with_models(reg_path, cli, make_file)
    b = clone_tracked(reg_path, tmp_path / "clone")
    for args in (
        ("get-production", "m", "--output", tmp_path / "model"),
        ("get-production", "m", "--path"),
        ("export", "m@1", tmp_path / "exported"),
    ):
        message = failure(run(*args, "-R", b), 3)
        assert "pull" in message and "push" in message, message
    assert files_under(tmp_path / "model") == {} and files_under(tmp_path / "exported") == {}
    # --json still says which version is in production (path null) without failing.
    info = cli("get-production", "m", "-R", b, "--json")
    assert code(info) == 0 and json.loads(info.stdout)["path"] is None and json.loads(info.stdout)["version"] == 1
    # push/pull without a remote: a usage error that says how to configure one.
    for verb in ("push", "pull"):
        message = failure(run(verb, "-R", b), 2)
        assert "[remote]" in message and "MODELREG_REMOTE" in message


def test_blob_missing_locally_and_on_the_remote_is_not_found(
    remote: RemoteSide,
    reg_path: Path,
    tmp_path: Path,
    run: Callable[..., Any],
    cli: Callable[..., Any],
    make_file: Callable[..., Path],
) -> None:
    remote.configure(reg_path)
    _registry_with_models(reg_path, cli, make_file)
    assert code(cli("push", "-R", reg_path)) == 0
    lost = _sha((tmp_path / "a.bin").read_bytes())
    remote.delete(lost)
    b = clone_tracked(reg_path, tmp_path / "clone")
    message = failure(run("get-production", "m", "-R", b, "--output", tmp_path / "model"), 3)
    assert lost in message and "remote" in message
    assert failure(run("pull", "-R", b, "--json"), 3, json_mode=True) == "blob_missing"
    assert not local_blob(b, lost).exists()
    assert_blob_store_sound(b)
    # The clone cannot push what neither side has: not found, pointing at where it might be.
    assert "pull" in failure(run("push", "-R", b), 3)
    # Pushing from the origin repairs the remote, and then the clone gets its model.
    assert doc(run("push", "-R", reg_path, "--json"))["transferred"] == 1
    assert code(run("get-production", "m", "-R", b, "--output", tmp_path / "model")) == 0
    assert files_under(tmp_path / "model")["a.bin"] == (tmp_path / "a.bin").read_bytes()


# -- big files --------------------------------------------------------------------------------


def test_multipart_sized_file_round_trips(
    s3_remote: RemoteSide, reg_path: Path, tmp_path: Path, run: Callable[..., Any], cli: Callable[..., Any]
) -> None:
    """Above the S3 multipart threshold (64 MiB): a multipart upload through `push`."""
    from modelreg.stores.remotes.s3 import S3_MULTIPART_CHUNKSIZE, S3_MULTIPART_THRESHOLD

    size = S3_MULTIPART_THRESHOLD + 6 * MiB + 123
    data = os.urandom(size)
    (tmp_path / "big.bin").write_bytes(data)
    toml = reg_path / "modelreg.toml"  # format 1 keeps the file one blob (format 2 sends 64 MiB packs)
    toml.write_text(toml.read_text().replace("format_version = 2", "format_version = 1"))
    s3_remote.configure(reg_path)
    assert code(cli("register", "-R", reg_path, "big", tmp_path / "big.bin", "--stage", "production")) == 0
    pushed = doc(run("push", "-R", reg_path, "--json"))
    assert (pushed["transferred"], pushed["bytes"]) == (1, size)
    assert s3_remote.server is not None
    head = s3_remote.server.client().head_object(
        Bucket=BUCKET, Key=f"{s3_remote.prefix}/sha256/{_sha(data)[7:9]}/{_sha(data)[7:]}"
    )
    assert head["ContentLength"] == size
    parts = -(-size // S3_MULTIPART_CHUNKSIZE)
    assert head["ETag"].strip('"').endswith(f"-{parts}"), head["ETag"]

    b = clone_tracked(reg_path, tmp_path / "clone")
    got = run("get-production", "big", "-R", b, "--output", tmp_path / "model")
    assert code(got) == 0, got.stderr
    out = tmp_path / "model" / "big.bin"
    assert out.stat().st_size == size
    assert _sha(out.read_bytes()) == _sha(data)
