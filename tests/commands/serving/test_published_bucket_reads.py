"""What a serving host's call costs the bucket, and how it reaches it.

A warm ``get-production`` reads the pointer alone; after a republish that left the model as it
was, the pointer and the new index. With the keys, region and endpoint in the environment those
small reads go without botocore; with anything only botocore reads (the AWS files, a profile),
through botocore, with the same answers. Requests are counted on the wire by a proxy in front of
the real S3 server (SeaweedFS on loopback)."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.counting_proxy import CountingProxy
from support.results import ok
from support.s3server import SeaweedS3

from modelreg import Registry
from modelreg.repo.locate import POINTER
from modelreg.repo.published import MAX_POINTER, RECORDS

BUCKET = "modelreg-bucket-reads"


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


def published(tmp_path: Path, cli: Any, s3: SeaweedS3) -> tuple[Path, str]:
    """churn@2 in production, fraud@1: pushed to a new prefix of the bucket."""
    url = f"s3://{BUCKET}/r-{secrets.token_hex(5)}"
    root = tmp_path / "reg"
    reg, _ = Registry.init(root)
    toml = root / "modelreg.toml"
    toml.write_text(toml.read_text().replace("[remote]", f'[remote]\nendpoint_url = "{s3.endpoint_url}"'))
    reg = Registry.open(root)
    for n in (1, 2):
        model = tmp_path / f"w{n}.bin"
        model.write_bytes(f"churn weights {n}".encode() * 40)
        reg.register("churn", [model])
    reg.promote("churn@2", "production")
    fraud = tmp_path / "fraud.bin"
    fraud.write_bytes(b"fraud weights")
    reg.register("fraud", [fraud])
    ok(cli("push", "-R", root, env={"MODELREG_REMOTE": url}))
    return root, url


def served(url: str, env: dict[str, str], drop: tuple[str, ...] = ()) -> tuple[dict[str, Any], set[str]]:
    """``get-production churn --json`` in a new process: its answer and the modules it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "modelreg", "get-production", "churn", "--json"],
        env={**{k: v for k, v in os.environ.items() if k not in drop}, "MODELREG_REGISTRY": url, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    modules = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return json.loads(done.stdout), modules


def botocore_in(modules: set[str]) -> bool:
    return any(m.split(".")[0] in ("boto3", "botocore") for m in modules)


def test_a_republish_that_left_the_model_alone_costs_a_warm_reader_the_pointer_and_the_index(
    aws_env: SeaweedS3, cli: Any, tmp_path: Path
) -> None:
    root, url = published(tmp_path, cli, aws_env)
    prefix = url.split("/", 3)[3]
    with CountingProxy(aws_env.endpoint_url) as proxy:
        env = {"MODELREG_ENDPOINT_URL": proxy.url}
        first, _ = served(url, env)
        proxy.take()
        warm, modules = served(url, env)
        assert proxy.take() == [f"GET /{BUCKET}/{prefix}/{POINTER}"]
        assert warm == first and not botocore_in(modules)

        Registry.open(root).promote("fraud@1", "staging")
        ok(cli("push", "-R", root, env={"MODELREG_REMOTE": url, "MODELREG_ENDPOINT_URL": aws_env.endpoint_url}))
        after, modules = served(url, env)
        pointer = json.loads(aws_env.client().get_object(Bucket=BUCKET, Key=f"{prefix}/{POINTER}")["Body"].read())
        assert proxy.take() == [
            f"GET /{BUCKET}/{prefix}/{POINTER}",
            f"GET /{BUCKET}/{prefix}/{RECORDS}{pointer['publication']}",
        ]
        assert after == first and not botocore_in(modules)

        # The model itself changed: its listing, its stage file and the newly served version's
        # manifest and blob too; never a listing of the bucket, never a write.
        Registry.open(root).promote("churn@1", "production")
        ok(cli("push", "-R", root, env={"MODELREG_REMOTE": url, "MODELREG_ENDPOINT_URL": aws_env.endpoint_url}))
        moved, modules = served(url, env)
        requests = proxy.take()
        assert moved["version"] == 1 and Path(moved["path"], "w1.bin").read_bytes() == b"churn weights 1" * 40
        assert 3 <= len(requests) <= 9, requests
        assert all(r.startswith(("GET ", "HEAD ")) and "list-type" not in r for r in requests), requests


def test_keys_and_region_from_the_aws_files_are_read_through_botocore(
    aws_env: SeaweedS3, cli: Any, run: Any, tmp_path: Path
) -> None:
    """No keys in the environment: the credentials file and the config file's region, as botocore
    reads them, give the same answers (the light reader steps aside)."""
    root, url = published(tmp_path, cli, aws_env)
    creds = tmp_path / "aws-credentials"
    creds.write_text(
        f"[reader]\naws_access_key_id = {aws_env.read_only_key}\naws_secret_access_key = {aws_env.read_only_secret}\n"
    )
    config = tmp_path / "aws-config"
    config.write_text("[profile reader]\nregion = us-east-1\n")
    env = {
        "AWS_SHARED_CREDENTIALS_FILE": str(creds),
        "AWS_CONFIG_FILE": str(config),
        "AWS_PROFILE": "reader",
        "MODELREG_ENDPOINT_URL": aws_env.endpoint_url,
        "XDG_CACHE_HOME": str(tmp_path / "files-cache"),
    }
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    cold, _ = served(url, env, drop=keys)
    warm, modules = served(url, env, drop=keys)
    assert botocore_in(modules)
    clone = json.loads(ok(run("get-production", "churn", "--json", "-R", root)).stdout)
    for doc in (cold, warm, clone):
        doc.pop("path")
    assert cold == warm == clone and clone["version"] == 2


def test_wrong_keys_are_refused_in_one_line(aws_env: SeaweedS3, cli: Any, run: Any, tmp_path: Path) -> None:
    _, url = published(tmp_path, cli, aws_env)
    env = {"MODELREG_ENDPOINT_URL": aws_env.endpoint_url, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    done = run("get-production", "churn", "--json", "-R", url, env=env)
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert "refused the credentials" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("pointer", "says"),
    [
        (b"", "not JSON"),
        (b" " * (MAX_POINTER + 1), "larger than it can be"),
        (json.dumps({"format": 1, "publication": "0" * 64}).encode(), "missing"),
    ],
)
def test_a_broken_pointer_in_the_bucket_is_refused_with_exit_5(
    aws_env: SeaweedS3, cli: Any, run: Any, tmp_path: Path, pointer: bytes, says: str
) -> None:
    _, url = published(tmp_path, cli, aws_env)
    prefix = url.split("/", 3)[3]
    aws_env.client().put_object(Bucket=BUCKET, Key=f"{prefix}/{POINTER}", Body=pointer)
    env = {"MODELREG_ENDPOINT_URL": aws_env.endpoint_url, "XDG_CACHE_HOME": str(tmp_path / "fresh-cache")}
    done = run("get-production", "churn", "--json", "-R", url, env=env)
    assert done.returncode == 5, (done.stdout, done.stderr)
    assert says in done.stderr and "Traceback" not in done.stderr


def test_nothing_published_under_a_prefix_says_so(aws_env: SeaweedS3, run: Any) -> None:
    url = f"s3://{BUCKET}/empty-{secrets.token_hex(4)}"
    done = run("get-production", "churn", "-R", url, env={"MODELREG_ENDPOINT_URL": aws_env.endpoint_url})
    assert done.returncode == 3 and "nothing is published" in done.stderr, done.stderr


KEYS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}


@pytest.mark.parametrize(
    ("env", "config_file", "light"),
    [
        ({**KEYS, "AWS_REGION": "eu-west-1", "MODELREG_ENDPOINT_URL": "http://127.0.0.1:9"}, False, True),
        ({**KEYS, "AWS_DEFAULT_REGION": "eu-west-1"}, False, True),  # AWS itself
        ({**KEYS, "AWS_DEFAULT_REGION": "eu-west-1"}, True, False),  # the file may name an endpoint
        ({**KEYS, "AWS_ENDPOINT_URL": "https://s3.example.internal"}, False, True),  # us-east-1, as botocore
        ({**KEYS, "AWS_ENDPOINT_URL": "https://s3.example.internal"}, True, False),  # the file may name a region
        ({"AWS_REGION": "eu-west-1", "AWS_PROFILE": "reader"}, False, False),  # no keys: botocore's chain
        ({**KEYS, "AWS_REGION": "eu-west-1", "HTTPS_PROXY": "http://proxy:3128"}, False, False),
        ({**KEYS, "AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL_S3": "https://s3.example.internal"}, False, False),
        ({**KEYS, "AWS_REGION": "eu-west-1", "AWS_CA_BUNDLE": "/etc/ca.pem"}, False, False),
        ({**KEYS, "MODELREG_ENDPOINT_URL": "https://s3.example.internal", "AWS_CA_BUNDLE": "/ca.pem"}, False, False),
        ({**KEYS, "MODELREG_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_CA_BUNDLE": "/ca.pem"}, False, True),
        ({**KEYS, "MODELREG_ENDPOINT_URL": "s3.example.internal"}, False, False),  # botocore says what is wrong
    ],
)
def test_the_light_reader_is_used_only_where_the_environment_alone_decides(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], config_file: bool, light: bool
) -> None:
    from modelreg.stores.remotes.s3_light import light_settings, open_light

    for name in list(os.environ):
        if name.startswith("AWS_") or name.upper().endswith("_PROXY") or name.startswith("MODELREG_"):
            monkeypatch.delenv(name)
    config = tmp_path / "aws-config"
    if config_file:
        config.write_text("[default]\nregion = eu-central-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = light_settings()
    assert (settings is not None) is light
    assert (open_light("bucket", "prefix/", "s3://bucket/prefix") is not None) is light
    if settings is not None:
        assert settings["region"] == (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1")
        assert settings["endpoint"] == (env.get("MODELREG_ENDPOINT_URL") or env.get("AWS_ENDPOINT_URL"))
