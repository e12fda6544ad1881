"""A claim whose answer is lost after the engine applied it: a loopback proxy in front of a real
S3 server (SeaweedFS) forwards the claim's conditional PUT, lets the server store it, and drops
the connection before the answer. The writer's retry is refused (the key exists), reads the claim
back, finds its own nonce, and keeps that number: no second number is taken."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from support.dropping_proxy import DroppingProxy
from support.procs import run_modelreg
from support.s3server import SeaweedS3

from modelreg import Registry
from modelreg.ops.teams.engine import ObjectEngine
from modelreg.stores.remotes.backend import Retrying
from modelreg.stores.remotes.s3 import S3Backend

BUCKET = "modelreg-lost"


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


def test_a_dropped_answer_keeps_the_claimed_number(
    tmp_path: Path, aws_env: SeaweedS3, make_file: Callable[..., Path]
) -> None:
    prefix = f"lost-{secrets.token_hex(4)}"
    root = tmp_path / "reg"
    Registry.init(root)
    toml = root / "modelreg.toml"
    with DroppingProxy(aws_env.endpoint_url, drop=0) as checking:
        # The first use of an engine runs remote check (through a proxy that drops nothing).
        text = toml.read_text().replace(
            "[remote]\n", f'[remote]\nurl = "s3://{BUCKET}/{prefix}"\nendpoint_url = "{checking.endpoint_url}"\n'
        )
        toml.write_text(text + '\n[claims]\nengine = "s3"\n')
        assert Registry.open(root).remote_check().ok
    with DroppingProxy(aws_env.endpoint_url, drop=2) as proxy:
        toml.write_text(toml.read_text().replace(checking.endpoint_url, proxy.endpoint_url))
        src = make_file(tmp_path / "m.bin", b"weights")
        first = run_modelreg("-R", root, "register", "churn", src, "--json")
        assert first.returncode == 0, first.stderr
        assert proxy.dropped >= 1  # the answer to the applied claim never came
        second = run_modelreg("-R", root, "register", "churn", src, "--json")
        assert second.returncode == 0, second.stderr
    assert [json.loads(first.stdout)["version"], json.loads(second.stdout)["version"]] == [1, 2]
    direct = ObjectEngine(Retrying(S3Backend(BUCKET, prefix, endpoint_url=aws_env.endpoint_url)))
    assert direct.claimed("churn") == [1, 2]  # no number taken and left behind by the retry
    assert run_modelreg("-R", root, "verify").returncode == 0
