"""What runs where, asked of the bucket: ``push`` publishes each model's ``deployments.yaml`` with
its other records and the audit log, so a serving host with only read access answers
``deployed`` (now and at any moment), ``which`` (a prediction id to its version and
environments) and ``deploy-check`` as a clone does; ``deploy``, ``undeploy`` and ``observe``
are changes, refused with exit 4. Against the real S3 server (SeaweedFS on loopback)."""

from __future__ import annotations

import json
import secrets
import shutil
from pathlib import Path
from typing import Any

import pytest
from support.results import ok
from support.s3server import SeaweedS3

from modelreg import Registry, serving

BUCKET = "modelreg-published-deployments"


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


def answer(run: Any, where: str | Path, *args: Any, env: dict[str, str] | None = None, code: int = 0) -> Any:
    done = run(*args, "--json", "-R", where, env=env)
    assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
    return json.loads(done.stdout) if code == 0 else done.stderr


def test_deployments_are_answered_from_the_bucket_as_in_the_clone(
    aws_env: SeaweedS3, run: Any, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"s3://{BUCKET}/d-{secrets.token_hex(5)}"
    root = tmp_path / "reg"
    reg, _ = Registry.init(root)
    toml = root / "modelreg.toml"
    toml.write_text(
        toml.read_text().replace("[remote]", f'[remote]\nendpoint_url = "{aws_env.endpoint_url}"')
        + '\n[environments.prod-eu]\nstage = "production"\n'
    )
    reg = Registry.open(root)
    for n in (1, 2):
        model = tmp_path / f"churn{n}.bin"
        model.write_bytes(f"churn weights {n}".encode() * 20)
        reg.register("churn", [model])
    fraud = tmp_path / "fraud.bin"
    fraud.write_bytes(b"fraud weights")
    reg.register("fraud", [fraud])
    reg.promote("churn@1", "production")
    ok(cli("deploy", "churn@1", "--env", "prod-eu", "-R", root))
    first = answer(run, root, "deployed")["deployments"][0]["since"]
    reg.promote("churn@2", "production")
    ok(cli("deploy", "churn@2", "--env", "prod-eu", "--reason", "better auc", "-R", root))
    ok(cli("deploy", "fraud@1", "--env", "batch", "-R", root))
    ok(cli("deploy", "churn@1", "--env", "shadow", "-R", root))
    ok(cli("undeploy", "churn", "--env", "shadow", "-R", root))
    ok(cli("observe", "churn@2", "--metric", "accuracy=0.91", "--env", "prod-eu", "-R", root))
    ok(cli("push", "-R", root, env={"MODELREG_REMOTE": url}))
    env = {"MODELREG_ENDPOINT_URL": aws_env.endpoint_url, "XDG_CACHE_HOME": str(tmp_path / "host-cache")}

    for args in (
        ("deployed",),
        ("deployed", "--env", "prod-eu"),
        ("deployed", "--model", "churn"),
        ("deployed", "--env", "nowhere"),
        ("deployed", "--at", first),
    ):
        assert answer(run, url, *args, env=env) == answer(run, root, *args), args
    now = answer(run, url, "deployed", env=env)["deployments"]
    assert {(d["env"], d["model"], d["version"]) for d in now} == {("prod-eu", "churn", 2), ("batch", "fraud", 1)}
    then = answer(run, url, "deployed", "--at", first, env=env)["deployments"]
    assert [(d["model"], d["version"]) for d in then] == [("churn", 1)]
    # The observation made in production is in the published audit log.
    shown = answer(run, url, "show", "churn@2", env=env)
    assert shown == answer(run, root, "show", "churn@2")
    assert "0.91" in json.dumps(shown)

    # A prediction made by the copy the bucket served: which version, and where it ran then.
    served = Path(answer(run, url, "get", "churn@2", env=env)["path"])
    monkeypatch.setenv("MODELREG_ENDPOINT_URL", aws_env.endpoint_url)
    monkeypatch.setenv("XDG_CACHE_HOME", env["XDG_CACHE_HOME"])
    served_identity = serving.identity(served, registry=url)
    assert (served_identity.name, served_identity.version) == ("churn", 2)
    prediction = serving.prediction_id(served_identity)
    which = answer(run, url, "which", prediction, env=env)
    assert which == answer(run, root, "which", prediction)
    assert which["version"] == 2 and which["environments"] == ["prod-eu"]
    assert answer(run, url, "which", "not-an-id", env=env, code=2) == answer(run, root, "which", "not-an-id", code=2)
    unknown = prediction[:-12] + "0" * 12  # a digest no version has
    assert answer(run, url, "which", unknown, env=env, code=3) == answer(run, root, "which", unknown, code=3)

    # The readiness probe against the bucket's record of prod-eu.
    ok(run("deploy-check", "churn", "--env", "prod-eu", "--path", served, "-R", url, env=env))
    tampered = tmp_path / "tampered"
    shutil.copytree(served, tampered)
    (tampered / "churn2.bin").chmod(0o644)
    (tampered / "churn2.bin").write_bytes(b"not the model")
    failed = run("deploy-check", "churn", "--env", "prod-eu", "--path", tampered, "-R", url, env=env)
    assert failed.returncode == 5 and "churn2.bin" in failed.stderr, failed.stderr


def test_deploying_from_the_bucket_is_refused(aws_env: SeaweedS3, run: Any, cli: Any, tmp_path: Path) -> None:
    url = f"s3://{BUCKET}/r-{secrets.token_hex(5)}"
    root = tmp_path / "reg"
    reg, _ = Registry.init(root)
    toml = root / "modelreg.toml"
    toml.write_text(toml.read_text().replace("[remote]", f'[remote]\nendpoint_url = "{aws_env.endpoint_url}"'))
    reg = Registry.open(root)
    model = tmp_path / "m.bin"
    model.write_bytes(b"weights")
    reg.register("churn", [model])
    ok(cli("push", "-R", root, env={"MODELREG_REMOTE": url}))
    env = {"MODELREG_ENDPOINT_URL": aws_env.endpoint_url}
    prefix = url.split("/", 3)[3]
    client = aws_env.client()

    def objects() -> set[str]:
        listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return {(o["Key"], o["ETag"]) for o in listed.get("Contents", [])}

    before = objects()
    for args in (
        ("deploy", "churn@1", "--env", "prod-eu"),
        ("undeploy", "churn", "--env", "prod-eu"),
        ("observe", "churn@1", "--metric", "accuracy=0.9"),
    ):
        done = run(*args, "-R", url, env=env)
        assert done.returncode == 4 and "read-only" in done.stderr, (args, done.stderr)
    assert objects() == before
    assert answer(run, url, "deployed", env=env) == {"at": None, "deployments": []}
