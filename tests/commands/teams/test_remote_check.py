"""``remote check`` trusts an engine only after watching it: a real S3 server that honours
conditional writes passes, a stand-in that ignores them is refused (exit 4), and the first claim
on an engine that was never checked runs the check by itself."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support.procs import run_modelreg
from support.s3server import SeaweedS3
from support.standin_s3 import StandInS3
from support.teams import init_claims_registry

BUCKET = "modelreg-check"


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


@pytest.fixture
def standin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[StandInS3]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "standin")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    with StandInS3() as server:
        yield server


def test_a_server_that_honours_the_conditions_passes(tmp_path: Path, aws_env: SeaweedS3) -> None:
    root = init_claims_registry(tmp_path / "reg", f"s3://{BUCKET}/{secrets.token_hex(4)}", aws_env.endpoint_url)
    done = run_modelreg("-R", root, "remote", "check", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and len(report["checks"]) >= 4
    assert all(c["passed"] for c in report["checks"])


def test_a_server_that_ignores_the_conditions_is_refused(tmp_path: Path, standin: StandInS3) -> None:
    root = init_claims_registry(tmp_path / "reg", "s3://bucket/team", standin.endpoint_url)
    done = run_modelreg("-R", root, "remote", "check")
    assert done.returncode == 4, done.stdout + done.stderr
    assert "FAILED create twice" in done.stdout and "does not honour conditional writes" in done.stderr
    assert "simultaneous creates won" in done.stdout


def test_the_first_claim_on_an_unchecked_engine_checks_it_and_refuses(
    tmp_path: Path, standin: StandInS3, make_file: Callable[..., Path]
) -> None:
    root = init_claims_registry(tmp_path / "reg", "s3://bucket/team", standin.endpoint_url)
    src = make_file(tmp_path / "m.bin", b"weights")
    first = run_modelreg("-R", root, "register", "churn", src)
    assert first.returncode == 4 and "does not honour conditional writes" in first.stderr
    again = run_modelreg("-R", root, "register", "churn", src)  # remembered: refused without a new check
    assert again.returncode == 4 and "failed 'modelreg remote check'" in again.stderr
    assert not (root / "models" / "churn").exists()


def test_remote_check_without_an_engine_checks_the_remote_store(tmp_path: Path) -> None:
    assert run_modelreg("init", tmp_path / "reg").returncode == 0
    done = run_modelreg("-R", tmp_path / "reg", "remote", "check")
    assert done.returncode == 2 and "[remote]" in done.stderr
    (tmp_path / "store").mkdir()
    toml = tmp_path / "reg" / "modelreg.toml"
    toml.write_text(toml.read_text().replace("[remote]\n", f'[remote]\nurl = "{tmp_path / "store"}"\n'))
    checked = run_modelreg("-R", tmp_path / "reg", "remote", "check", "--json")
    assert checked.returncode == 0 and json.loads(checked.stdout)["ok"] is True
    bad = run_modelreg("-R", tmp_path / "reg", "remote", "probe")
    assert bad.returncode == 2
