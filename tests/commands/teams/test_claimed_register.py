"""``register`` with a claim engine: each number is claimed on the engine before the version is
visible, once, forever, dense in claim order, across clones that share nothing but the engine.
Run against the [remote] store as a directory and as a real S3 server (SeaweedFS on loopback)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.procs import run_modelreg
from support.s3server import SeaweedS3
from support.teams import finish_json, init_claims_registry, launch_together

from modelreg import Registry
from modelreg.errors import RemoteError
from modelreg.ops.teams.claims import claim_next, read_claim
from modelreg.ops.teams.engine import ObjectEngine
from modelreg.stores.remotes.backend import Retrying
from modelreg.stores.remotes.directory import DirectoryBackend

BUCKET = "modelreg-claims"
CLONES = 6


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


@pytest.fixture(params=["directory", "s3"])
def engine_remote(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None]:
    """The [remote] url (and endpoint) the clones share as their claim engine."""
    if request.param == "directory":
        shared = tmp_path / "shared"
        shared.mkdir()
        return str(shared), None
    server: SeaweedS3 = request.getfixturevalue("aws_env")
    return f"s3://{BUCKET}/t-{secrets.token_hex(6)}", server.endpoint_url


def clones(tmp_path: Path, remote: tuple[str, str | None], count: int) -> list[Path]:
    return [init_claims_registry(tmp_path / f"clone{i}", *remote) for i in range(count)]


def register(root: Path, src: Path, *extra: str) -> dict[str, Any]:
    done = run_modelreg("-R", root, "register", "churn", src, "--json", *extra)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_clones_that_never_merged_take_distinct_dense_numbers(
    tmp_path: Path, engine_remote: tuple[str, str | None], make_file: Callable[..., Path]
) -> None:
    a, b = clones(tmp_path, engine_remote, 2)
    src = make_file(tmp_path / "model.bin", b"weights")
    taken = [register(a, src)["version"], register(b, src)["version"], register(a, src)["version"]]
    assert taken == [1, 2, 3]
    assert [v.version for v in Registry.open(a).versions("churn")] == [1, 3]
    assert [v.version for v in Registry.open(b).versions("churn")] == [2]
    # Each clone's own numbers verify; the others are claims it has not pulled yet (warnings).
    for root in (a, b):
        done = run_modelreg("-R", root, "verify", "--json")
        assert done.returncode == 0, done.stdout
        report = json.loads(done.stdout)
        assert report["ok"] and all(f["severity"] == "warning" for f in report["findings"])


def test_clones_racing_behind_a_barrier_never_share_a_number(
    tmp_path: Path, engine_remote: tuple[str, str | None], make_file: Callable[..., Path]
) -> None:
    roots = clones(tmp_path, engine_remote, CLONES)
    srcs = [make_file(tmp_path / f"m{i}.bin", f"weights {i}".encode()) for i in range(CLONES)]
    procs = launch_together(
        [["-R", root, "register", "churn", src, "--json"] for root, src in zip(roots, srcs, strict=True)],
        tmp_path / "go",
    )
    numbers = sorted(r["version"] for r in finish_json(procs))
    assert numbers == list(range(1, CLONES + 1))


def test_a_lost_answer_keeps_the_number_its_create_took(tmp_path: Path) -> None:
    """The store applies the create and the answer never comes: the retry finds its own nonce."""
    (tmp_path / "store").mkdir()

    class LosesAnswers(DirectoryBackend):
        lost = 0

        def transient(self, exc: BaseException) -> bool:
            return isinstance(exc, RemoteError)

        def create(self, key: str, data: bytes) -> bool:
            applied = super().create(key, data)
            if applied and self.lost < 2:
                self.lost += 1
                raise RemoteError("connection reset before the answer")
            return applied

    engine = ObjectEngine(Retrying(LosesAnswers(tmp_path / "store"), attempts=3, pause=0))
    first = claim_next(engine, "churn", 1, actor="a", time="2026-01-01T00:00:00Z")
    second = claim_next(engine, "churn", 1, actor="b", time="2026-01-01T00:00:01Z")
    assert (first.claim.version, second.claim.version) == (1, 2)
    plain = ObjectEngine(DirectoryBackend(tmp_path / "store"))
    assert engine.claimed("churn") == [1, 2]
    held = read_claim(plain, "churn", 1)
    assert held is not None and held.nonce == first.claim.nonce and held.actor == "a"


def test_a_writer_killed_after_claiming_leaves_its_number_taken_and_reported(
    tmp_path: Path, engine_remote: tuple[str, str | None], make_file: Callable[..., Path]
) -> None:
    (root,) = clones(tmp_path, engine_remote, 1)
    src = make_file(tmp_path / "model.bin", b"weights")
    assert register(root, src)["version"] == 1
    killed = run_modelreg_env(root, src, {"MODELREG_TEST_CRASH_AT": "after-claim"})
    assert killed.returncode == 137
    assert register(root, src)["version"] == 3  # 2 stays with the writer that died
    shown = json.loads(run_modelreg("-R", root, "show", "churn", "--json").stdout)
    assert [v["version"] for v in shown["versions"]] == [1, 3]
    (unused,) = shown["unused_claims"]
    assert unused["version"] == 2 and unused["claimed_by"] and unused["claimed_at"]
    done = run_modelreg("-R", root, "verify", "--json")
    assert done.returncode == 0
    (finding,) = json.loads(done.stdout)["findings"]
    assert finding["kind"] == "claims" and "churn@2" in finding["message"] and "abandoned" in finding["message"]
    missing = run_modelreg("-R", root, "show", "churn@2")
    assert missing.returncode == 3 and "claimed" in missing.stderr


def run_modelreg_env(root: Path, src: Path, env: dict[str, str]) -> Any:
    import os
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "modelreg", "-R", str(root), "register", "churn", str(src)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_unreachable_engine_refuses_register_with_one_line(tmp_path: Path, make_file: Callable[..., Path]) -> None:
    shared = tmp_path / "shared"
    root = init_claims_registry(tmp_path / "reg", str(shared))  # the shared directory is not there
    src = make_file(tmp_path / "model.bin", b"weights")
    done = run_modelreg("-R", root, "register", "churn", src)
    assert done.returncode == 4
    assert done.stderr.count("\n") == 1 and "claim engine" in done.stderr and str(shared) in done.stderr
    assert not (root / "models" / "churn").exists()


def test_an_unreachable_s3_engine_refuses_register_with_one_line(
    tmp_path: Path, make_file: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    root = init_claims_registry(tmp_path / "reg", "s3://nowhere/p", f"http://127.0.0.1:{port}")
    done = run_modelreg("-R", root, "register", "churn", make_file(tmp_path / "m.bin", b"w"))
    assert done.returncode == 4, done.stderr
    assert done.stderr.count("\n") == 1 and "claim engine at s3://nowhere/p" in done.stderr
    assert not (root / "models" / "churn").exists()


@pytest.mark.parametrize(
    ("claims", "says"),
    [
        ('engine = "s3"\nwho = 1', "unknown key claims.who"),
        ('engine = "zookeeper"', "claims.engine must be"),
        ('engine = "s3"\nremote = "origin"', 'needs engine = "git"'),
    ],
)
def test_a_malformed_claims_table_is_refused(tmp_path: Path, claims: str, says: str) -> None:
    root = tmp_path / "reg"
    assert run_modelreg("init", root).returncode == 0
    with open(root / "modelreg.toml", "a") as fh:
        fh.write(f"\n[claims]\n{claims}\n")
    done = run_modelreg("-R", root, "list")
    assert done.returncode == 2 and says in done.stderr


def test_s3_claims_without_a_remote_are_refused(tmp_path: Path, make_file: Callable[..., Path]) -> None:
    root = tmp_path / "reg"
    assert run_modelreg("init", root).returncode == 0
    with open(root / "modelreg.toml", "a") as fh:
        fh.write('\n[claims]\nengine = "s3"\n')
    done = run_modelreg("-R", root, "register", "churn", make_file(tmp_path / "m.bin", b"w"))
    assert done.returncode == 2 and "[remote] url" in done.stderr
