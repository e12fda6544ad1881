"""Serving straight from the remote: ``push`` publishes the records beside the bytes, and
``-R s3://bucket/prefix`` (or ``-R`` a published remote directory) answers every read question
with no clone, every byte verified, every change refused (exit 4).

Against a directory remote and a real S3 server (SeaweedFS on loopback); S3 requests are counted
on the wire, by a proxy in front of the server."""

from __future__ import annotations

import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

import pytest
from support.counting_proxy import CountingProxy
from support.results import ok
from support.s3server import SeaweedS3

from modelreg import Registry
from modelreg.repo.locate import POINTER
from modelreg.repo.published import RECORDS

BUCKET = "modelreg-published"
READS = [
    ("list",),
    ("list", "churn"),
    ("list", "fraud"),
    ("show", "churn"),
    ("show", "churn@2"),
    ("show", "churn@champion"),
    ("show", "fraud@1"),
    ("get-production", "churn"),
    ("get", "churn@1"),
    ("get", "churn@production~1"),
    ("log",),
    ("log", "churn"),
]


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


def build(run: Any, reg: Path, tmp_path: Path, remote: str, versions: int = 3) -> None:
    """Two models, stages, an alias, a removed version, annotations: pushed and so published."""
    ok(run("init", reg))
    env = {"MODELREG_REMOTE": remote}
    for n in range(1, versions + 1):
        model = tmp_path / f"w{n}.bin"
        model.write_bytes(os.urandom(2000 + n))
        ok(run("register", "churn", model, "-m", f"auc={0.7 + n / 100}", "-R", reg, env=env))
    ok(run("promote", "churn@1", "production", "-R", reg))
    ok(run("promote", "churn@2", "production", "-R", reg))
    ok(run("alias", "churn@1", "champion", "-R", reg))
    ok(run("annotate", "churn@2", "--tag", "owner=ada", "-R", reg))
    fraud = tmp_path / "fraud.bin"
    fraud.write_bytes(b"fraud model")
    ok(run("register", "fraud", fraud, "-R", reg, env=env))
    ok(run("register", "fraud", fraud, "-d", "again", "-R", reg, env=env))
    ok(run("remove", "fraud@2", "--reason", "recall", "-R", reg))
    pushed = json.loads(ok(run("push", "--json", "-R", reg, env=env)).stdout)
    assert pushed["published"]


def answer(run: Any, where: str | Path, *args: str, env: dict[str, str] | None = None) -> Any:
    data = json.loads(ok(run(*args, "--json", "-R", where, env=env)).stdout)
    if isinstance(data, dict):
        data.pop("path", None)  # each side serves from its own place
    return data


@pytest.fixture
def directory_remote(tmp_path: Path) -> Path:
    remote = tmp_path / "remote"
    remote.mkdir()
    return remote


def test_every_read_answers_as_the_clone_does(run: Any, tmp_path: Path, directory_remote: Path) -> None:
    reg = tmp_path / "reg"
    build(run, reg, tmp_path, str(directory_remote))
    for args in READS:
        assert answer(run, directory_remote, *args) == answer(run, reg, *args), args
    served = Path(json.loads(ok(run("get-production", "churn", "--json", "-R", directory_remote)).stdout)["path"])
    assert (served / "w2.bin").read_bytes() == (tmp_path / "w2.bin").read_bytes()
    assert "reg" not in served.parts  # served in the user's cache, not from the clone
    quick = json.loads(ok(run("verify", "--quick", "--json", "-R", directory_remote)).stdout)
    assert quick["ok"] is True and quick["versions"] == 5


def test_every_change_is_refused_and_the_remote_stays_as_it_was(
    run: Any, tmp_path: Path, directory_remote: Path
) -> None:
    reg = tmp_path / "reg"
    build(run, reg, tmp_path, str(directory_remote))
    before = sorted((p.relative_to(directory_remote), p.stat().st_size) for p in directory_remote.rglob("*"))
    model = tmp_path / "new.bin"
    model.write_bytes(b"new")
    for args in (
        ("promote", "churn@3", "production"),
        ("register", "churn", str(model)),
        ("alias", "churn@3", "challenger"),
        ("annotate", "churn", "-d", "x"),
        ("remove", "churn@3", "--reason", "x"),
        ("push",),
        ("gc",),
    ):
        result = run(*args, "-R", directory_remote)
        assert result.returncode == 4, (args, result.stderr)
        assert "read-only" in result.stderr and "push" in result.stderr and "Traceback" not in result.stderr
    after = sorted((p.relative_to(directory_remote), p.stat().st_size) for p in directory_remote.rglob("*"))
    assert after == before


def test_a_corrupted_record_fails_with_exit_5_and_nothing_is_kept(
    run: Any, tmp_path: Path, directory_remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = tmp_path / "reg"
    build(run, reg, tmp_path, str(directory_remote))
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    pointer = json.loads((directory_remote / POINTER).read_text())
    index = json.loads((directory_remote / RECORDS / pointer["publication"]).read_text())
    listing = directory_remote / RECORDS / index["models"]["churn"]
    listing.write_bytes(listing.read_bytes().replace(b'"files"', b'"filez"'))
    result = run("get-production", "churn", "--json", "-R", directory_remote, env={"XDG_CACHE_HOME": str(cache)})
    assert result.returncode == 5, result.stderr
    assert "does not match its name" in result.stderr
    kept = list((cache / "modelreg" / "published").rglob(index["models"]["churn"]))
    assert kept == []


def test_a_reader_never_sees_a_half_published_state(run: Any, tmp_path: Path, directory_remote: Path) -> None:
    """A writer promotes and pushes over and over; a reader meanwhile always finds a whole registry."""
    reg = tmp_path / "reg"
    build(run, reg, tmp_path, str(directory_remote))
    writer = Registry.open(reg)
    os.environ["MODELREG_REMOTE"] = str(directory_remote)
    stop = threading.Event()
    errors: list[BaseException] = []
    publications: set[str] = set()

    def write() -> None:
        try:
            for n in range(12):
                writer.promote(f"churn@{1 + n % 3}", "production")
                from modelreg.ops.storage.transfer import select_versions, transfer

                publications.add(str(transfer(writer, "push", select_versions(writer, None)).published))
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=write)
    thread.start()
    reads = 0
    try:
        while not stop.is_set() or reads < 3:
            reader = Registry.open(str(directory_remote))
            from modelreg.ops.verify.run import verify

            report = verify(reader, quick=True)
            assert report.ok, report.to_json()
            assert reader.get_production("churn").version in (1, 2, 3)
            reads += 1
    finally:
        thread.join(timeout=300)
        os.environ.pop("MODELREG_REMOTE", None)
    assert errors == []
    assert len(publications) > 1 and reads >= 3


def _register(lib_reg: Registry, tmp_path: Path, numbers: range) -> None:
    """Registers numbered ``numbers``: every other one a version of churn, the rest spread over
    seven other models."""
    for n in numbers:
        model = tmp_path / "m.bin"
        model.write_bytes(f"version {n}".encode())
        lib_reg.register("churn" if n % 2 else f"other-{n % 7}", [model])


@pytest.mark.slow
def test_get_production_from_the_bucket_costs_the_same_at_any_size(
    aws_env: SeaweedS3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Any
) -> None:
    """The same requests, cold and warm, for a registry of 25 versions and of 800."""
    prefix = f"p-{secrets.token_hex(5)}"
    url = f"s3://{BUCKET}/{prefix}"
    monkeypatch.setenv("MODELREG_ENDPOINT_URL", aws_env.endpoint_url)
    reg, _ = Registry.init(tmp_path / "reg")
    (tmp_path / "reg" / "modelreg.toml").write_text(
        (tmp_path / "reg" / "modelreg.toml")
        .read_text()
        .replace("[remote]", f'[remote]\nendpoint_url = "{aws_env.endpoint_url}"')
    )
    reg = Registry.open(tmp_path / "reg")

    def requests_at(size: int) -> tuple[list[str], list[str]]:
        """Publish the registry, then one cold and one warm get-production from a fresh cache."""
        monkeypatch.setenv("MODELREG_REMOTE", url)
        monkeypatch.setenv("MODELREG_ENDPOINT_URL", aws_env.endpoint_url)
        ok(cli("push", "-R", tmp_path / "reg"))
        monkeypatch.delenv("MODELREG_REMOTE")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"cache-{size}"))
        # Every request any client sends, counted on the wire by a proxy in front of the server.
        with CountingProxy(aws_env.endpoint_url) as proxy:
            monkeypatch.setenv("MODELREG_ENDPOINT_URL", proxy.url)
            cold = json.loads(ok(cli("get-production", "churn", "--json", "-R", url)).stdout)
            cold_requests = proxy.take()
            warm = json.loads(ok(cli("get-production", "churn", "--json", "-R", url)).stdout)
            warm_requests = proxy.take()
        assert cold == warm and cold["version"] == 1
        assert Path(cold["path"], "m.bin").read_bytes() == b"version 1"
        assert not any("list-type" in r for r in cold_requests + warm_requests), cold_requests  # never a listing
        assert warm_requests == [f"GET /{BUCKET}/{prefix}/{POINTER}"], warm_requests
        return cold_requests, warm_requests

    _register(reg, tmp_path, range(25))
    reg.promote("churn@1", "production")
    small = requests_at(25)
    _register(reg, tmp_path, range(25, 800))
    large = requests_at(800)
    assert [len(r) for r in large] == [len(r) for r in small], (small, large)
    # Cold: the pointer, the index, the configuration, the model's listing and its few records,
    # its manifest, the blob: a constant.
    assert 5 <= len(small[0]) <= 12, small[0]


def test_the_bucket_answers_as_the_clone_does(aws_env: SeaweedS3, run: Any, tmp_path: Path) -> None:
    url = f"s3://{BUCKET}/c-{secrets.token_hex(5)}"
    reg = tmp_path / "reg"
    env = {"MODELREG_ENDPOINT_URL": aws_env.endpoint_url}
    ok(run("init", reg))
    toml = reg / "modelreg.toml"
    toml.write_text(toml.read_text().replace("[remote]", f'[remote]\nendpoint_url = "{aws_env.endpoint_url}"'))
    os.environ["MODELREG_ENDPOINT_URL"] = aws_env.endpoint_url
    try:
        build(run, reg, tmp_path, url)
        for args in READS:
            assert answer(run, url, *args, env=env) == answer(run, reg, *args), args
        refused = run("promote", "churn@3", "production", "-R", url, env=env)
        assert refused.returncode == 4 and "read-only" in refused.stderr
    finally:
        os.environ.pop("MODELREG_ENDPOINT_URL", None)
