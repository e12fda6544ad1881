"""A published registry read from a remote that may be hostile: whatever the remote returns
(pointer, index, listings, records, blobs) never chooses a path, never hangs a reader, never
crashes it; a refusal is one clean error with the right exit code and nothing kept.

Also what a serving host really does: several reader processes at once, a reader while another
process republishes, the URL and endpoint from the environment, a bucket with no prefix,
read-only credentials, every read command from the bucket, an audit log of several segments."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from support.results import ok
from support.s3server import SeaweedS3

from modelreg import Registry
from modelreg.repo import LOG_NAME
from modelreg.repo.locate import POINTER
from modelreg.repo.published import RECORDS, SEGMENT

BUCKET = "modelreg-hostile"
BARE_BUCKET = "modelreg-bare"


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    s3_server.create_bucket(BARE_BUCKET)
    return s3_server


# -- a published registry, and an attacker's hand on its remote -----------------------------------


def make_registry(tmp_path: Path) -> Path:
    """churn: three versions, 2 in production after 1; fraud: one version."""
    root = tmp_path / "reg"
    reg, _ = Registry.init(root)
    for n in range(1, 4):
        model = tmp_path / f"w{n}.bin"
        model.write_bytes(f"churn weights {n}".encode() * 50)
        reg.register("churn", [model])
    reg.promote("churn@1", "production")
    reg.promote("churn@2", "production")
    fraud = tmp_path / "fraud.bin"
    fraud.write_bytes(b"fraud weights")
    reg.register("fraud", [fraud])
    return root


def push(cli: Any, root: Path, remote: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = ok(cli("push", "--json", "-R", root, env={"MODELREG_REMOTE": remote, **(env or {})}))
    return json.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture
def remote(tmp_path: Path, cli: Any) -> Path:
    folder = tmp_path / "remote"
    folder.mkdir()
    push(cli, make_registry(tmp_path), str(folder))
    return folder


def put_record(remote: Path, data: bytes) -> str:
    """A record as an attacker writes it: named by its own digest, so only its content is hostile."""
    digest = hashlib.sha256(data).hexdigest()
    (remote / RECORDS / digest).write_bytes(data)
    return digest


def index_of(remote: Path) -> dict[str, Any]:
    pointer = json.loads((remote / POINTER).read_bytes())
    return json.loads((remote / RECORDS / pointer["publication"]).read_bytes())  # type: ignore[no-any-return]


def point_at(remote: Path, index: dict[str, Any]) -> None:
    digest = put_record(remote, json.dumps(index).encode())
    (remote / POINTER).write_text(json.dumps({"format": 1, "publication": digest}))


def cache() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"])


def refused(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.strip(), result.stderr
    return result.stderr


def nothing_named(root: Path, name: str) -> None:
    assert [p for p in root.rglob(name)] == []


# -- what the remote names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["../escaped.yaml", "/tmp/escaped.yaml", "versions/../../escaped.yaml", "versions/1.yaml/../escaped.yaml"]
)
def test_a_listing_never_chooses_a_path_outside_the_model(run: Any, remote: Path, tmp_path: Path, path: str) -> None:
    index = index_of(remote)
    listing = json.loads((remote / RECORDS / index["models"]["churn"]).read_bytes())
    listing["files"][path] = put_record(remote, b"name: escaped\n")
    index["models"]["churn"] = put_record(remote, json.dumps(listing).encode())
    point_at(remote, index)
    refused(run("get-production", "churn", "--json", "-R", remote), 5)
    nothing_named(tmp_path, "escaped.yaml")
    nothing_named(cache(), "escaped.yaml")


@pytest.mark.parametrize("name", ["../evil", "/evil", "Bad Name", "x" * 300, "", "churn/../../evil"])
def test_an_index_naming_an_invalid_model_is_refused(run: Any, remote: Path, name: str) -> None:
    index = index_of(remote)
    index["models"][name] = index["models"]["churn"]
    point_at(remote, index)
    assert "names a model" in refused(run("list", "--json", "-R", remote), 5)
    nothing_named(cache(), "evil")


def test_a_huge_pointer_or_index_is_refused_without_being_read_whole(run: Any, remote: Path) -> None:
    pointer = (remote / POINTER).read_bytes()
    (remote / POINTER).write_bytes(pointer + b" " * (1 << 20))  # valid JSON, only too big
    refused(run("list", "-R", remote), 5)
    huge = "ab" * 32
    with open(remote / RECORDS / huge, "wb") as f:
        f.truncate(65 << 20)  # sparse: over the index's bound, costs no disk
    (remote / POINTER).write_text(json.dumps({"format": 1, "publication": huge}))
    refused(run("list", "-R", remote), 5)
    nothing_named(cache(), huge)


def test_deeply_nested_json_is_refused_as_corrupt(run: Any, remote: Path) -> None:
    index = index_of(remote)
    saved = (remote / POINTER).read_bytes()
    deep = "[" * 30_000 + "]" * 30_000  # under the pointer's size bound
    (remote / POINTER).write_text('{"format": 1, "publication": ' + deep + "}")
    refused(run("list", "-R", remote), 5)
    digest = put_record(remote, deep.encode())
    (remote / POINTER).write_text(json.dumps({"format": 1, "publication": digest}))
    refused(run("list", "-R", remote), 5)
    (remote / POINTER).write_bytes(saved)
    index["models"]["churn"] = put_record(remote, ('{"files": ' + deep + "}").encode())
    point_at(remote, index)
    refused(run("get-production", "churn", "-R", remote), 5)


def test_a_fifo_or_a_symlink_on_a_directory_remote_is_refused_without_hanging(run: Any, remote: Path) -> None:
    pointer = remote / POINTER
    saved = pointer.read_bytes()
    pointer.unlink()
    os.mkfifo(pointer)  # a reader opening it for reading would wait for a writer forever
    refused(run("list", "-R", remote), 5)
    pointer.unlink()
    elsewhere = remote.parent / "elsewhere.json"
    elsewhere.write_bytes(saved)
    pointer.symlink_to(elsewhere)  # the very bytes, but through a link: not followed
    refused(run("list", "-R", remote), 5)
    pointer.unlink()
    pointer.write_bytes(saved)
    index = json.loads(saved)["publication"]
    record = remote / RECORDS / index
    moved = remote.parent / "index-elsewhere"
    record.rename(moved)
    record.symlink_to(moved)
    refused(run("list", "-R", remote), 5)
    record.unlink()
    os.mkfifo(record)
    refused(run("list", "-R", remote), 5)


def test_a_pointer_naming_a_missing_index_says_it_is_missing(run: Any, remote: Path) -> None:
    (remote / POINTER).write_text(json.dumps({"format": 1, "publication": "0" * 64}))
    assert "missing" in refused(run("list", "-R", remote), 5)


def test_missing_blobs_fail_get_cleanly_and_keep_nothing(run: Any, remote: Path) -> None:
    bytes_ = [p for p in remote.iterdir() if p.name not in (POINTER, RECORDS.rstrip("/"))]
    assert bytes_  # the blobs and chunks beside the records
    for folder in bytes_:
        subprocess.run(["rm", "-rf", str(folder)], check=True)
    for args in (
        ("get-production", "churn", "--path"),
        ("get", "churn@1", "--path"),
        ("get", "fraud@1", "--output", "out"),
    ):
        assert "not on the remote" in refused(run(*args, "-R", remote), 3)
    # Without --path the answer is the record, with no path and a warning saying why.
    answer = run("get-production", "churn", "--json", "-R", remote)
    assert json.loads(ok(answer).stdout)["path"] is None and "not on the remote" in answer.stderr
    assert not Path("out").exists() or list(Path("out").iterdir()) == []
    served = [p for p in cache().rglob("*.bin")]
    assert served == []
    verdict = run("verify", "--quick", "--json", "-R", remote)
    assert verdict.returncode == 5 and json.loads(verdict.stdout)["ok"] is False


def test_a_corrupt_blob_fails_with_exit_5_and_the_reader_leaves_the_remote_as_it_is(
    run: Any, remote: Path, tree_snapshot: Any
) -> None:
    blobs = [p for p in remote.rglob("*") if p.is_file() and RECORDS.rstrip("/") not in p.parts and p.name != POINTER]
    for blob in blobs:
        blob.write_bytes(blob.read_bytes()[::-1])  # same size, other bytes
    before = tree_snapshot(remote)
    message = refused(run("get-production", "churn", "--path", "-R", remote), 5)
    assert "does not match its digest" in message and "changes nothing on the remote" in message
    assert tree_snapshot(remote) == before  # nothing moved into quarantine by a reader
    assert [p for p in cache().rglob("*.bin")] == []


def test_a_change_killed_half_way_is_finished_before_it_is_published(run: Any, tmp_path: Path, remote: Path) -> None:
    """A promotion killed after writing the stage holder and before its audit entry: push must not
    publish the holder without the entry (readers would see a promotion the log never recorded)."""
    root = tmp_path / "reg"
    killed = run("promote", "churn@3", "production", "-R", root, env={"MODELREG_TEST_CRASH_AT": "mid-apply"})
    assert killed.returncode == 137
    ok(run("push", "-R", root, env={"MODELREG_REMOTE": str(remote)}))
    assert json.loads(ok(run("get-production", "churn", "--json", "-R", remote)).stdout)["version"] == 3
    history = json.loads(ok(run("log", "churn", "--json", "-R", remote)).stdout)
    assert json.loads(ok(run("log", "churn", "--json", "-R", root)).stdout) == history
    last = history["entries"][-1]
    assert (last["action"], last["version"], last["to_stage"]) == ("promote", 3, "production"), last
    quick = json.loads(ok(run("verify", "--quick", "--json", "-R", remote)).stdout)
    assert quick["ok"] is True


# -- several processes ------------------------------------------------------------------------------


def test_reader_processes_building_the_same_view_at_once_agree(remote: Path) -> None:
    for round_ in range(3):
        env = {**os.environ, "XDG_CACHE_HOME": str(cache() / f"round-{round_}")}
        commands = [("get-production", "churn"), ("log", "churn"), ("show", "churn@production~1")] * 2
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "modelreg", *args, "--json", "-R", str(remote)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for args in commands
        ]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0] * len(procs), outputs
        for first, second in zip(outputs[:3], outputs[3:], strict=True):
            assert json.loads(first[0]) == json.loads(second[0])
        assert json.loads(outputs[0][0])["version"] == 2
        assert json.loads(outputs[2][0])["version"] == 1


WRITER = textwrap.dedent(
    """
    import os, sys
    from modelreg import Registry
    from modelreg.ops.storage.transfer import select_versions, transfer
    reg = Registry.open(sys.argv[1])
    for n in range(int(sys.argv[2])):
        reg.promote(f"churn@{1 + n % 3}", "production")
        done = transfer(reg, "push", select_versions(reg, None))
        print("published", done.published, flush=True)
    """
)


def test_a_reader_process_never_sees_a_half_published_state(tmp_path: Path, remote: Path) -> None:
    """Another process promotes and pushes over and over; every reader process finds a whole registry."""
    env = {**os.environ, "MODELREG_REMOTE": str(remote)}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "reg"), "10"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    first = writer.stdout.readline()  # the writer's first publication: the race is on
    assert first.startswith("published"), writer.stderr.read() if writer.stderr else ""
    reads = 0
    try:
        while writer.poll() is None or reads < 3:
            verdict = subprocess.run(
                [sys.executable, "-m", "modelreg", "verify", "--quick", "--json", "-R", str(remote)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert verdict.returncode == 0, verdict.stdout + verdict.stderr
            served = subprocess.run(
                [sys.executable, "-m", "modelreg", "get-production", "churn", "--json", "-R", str(remote)],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert served.returncode == 0, served.stderr
            assert json.loads(served.stdout)["version"] in (1, 2, 3)
            reads += 1
    finally:
        rest, errors = writer.communicate(timeout=300)
    assert writer.returncode == 0, errors
    assert len({first, *rest.splitlines()}) == 10 and reads >= 3


# -- the bucket -------------------------------------------------------------------------------------


def s3_registry(tmp_path: Path, cli: Any, s3: SeaweedS3, url: str) -> Path:
    root = make_registry(tmp_path)
    toml = root / "modelreg.toml"
    toml.write_text(toml.read_text().replace("[remote]", f'[remote]\nendpoint_url = "{s3.endpoint_url}"'))
    push(cli, root, url)
    return root


def same(run: Any, url: str, root: Path, *args: str, env: dict[str, str | None] | None = None) -> Any:
    theirs = json.loads(ok(run(*args, "--json", "-R", url, env=env)).stdout)
    ours = json.loads(ok(run(*args, "--json", "-R", root)).stdout)
    for doc in (theirs, ours):
        if isinstance(doc, dict):
            doc.pop("path", None)
    assert theirs == ours, args
    return theirs


@pytest.mark.parametrize("variable", ["MODELREG_ENDPOINT_URL", "AWS_ENDPOINT_URL"])
def test_the_registry_and_its_endpoint_from_the_environment(
    aws_env: SeaweedS3, run: Any, cli: Any, tmp_path: Path, variable: str
) -> None:
    url = f"s3://{BUCKET}/env-{secrets.token_hex(4)}"
    s3_registry(tmp_path, cli, aws_env, url)
    env: dict[str, str | None] = {"MODELREG_REGISTRY": url, variable: aws_env.endpoint_url}
    answer = json.loads(ok(run("get-production", "churn", "--json", env=env)).stdout)
    assert answer["version"] == 2 and Path(answer["path"], "w2.bin").read_bytes() == b"churn weights 2" * 50


def test_a_bucket_with_no_prefix(aws_env: SeaweedS3, run: Any, cli: Any, tmp_path: Path) -> None:
    url = f"s3://{BARE_BUCKET}"
    root = s3_registry(tmp_path, cli, aws_env, url)
    env: dict[str, str | None] = {"MODELREG_ENDPOINT_URL": aws_env.endpoint_url}
    for where in (url, url + "/"):
        same(run, where, root, "get-production", "churn", env=env)
        same(run, where, root, "list", env=env)


def test_read_only_credentials_answer_every_read_command(
    aws_env: SeaweedS3, run: Any, cli: Any, tmp_path: Path
) -> None:
    url = f"s3://{BUCKET}/ro-{secrets.token_hex(4)}"
    root = s3_registry(tmp_path, cli, aws_env, url)
    ro: dict[str, str | None] = {
        "MODELREG_ENDPOINT_URL": aws_env.endpoint_url,
        "AWS_ACCESS_KEY_ID": aws_env.read_only_key,
        "AWS_SECRET_ACCESS_KEY": aws_env.read_only_secret,
    }
    # The identity really cannot write: a push with it is refused by the server.
    assert run("push", "-R", root, env={**ro, "MODELREG_REMOTE": url}).returncode == 4
    for args in (
        ("get-production", "churn"),
        ("get", "churn@1"),
        ("show", "churn@production~1"),
        ("list", "churn"),
        ("log",),
        ("log", "churn"),
    ):
        same(run, url, root, *args, env=ro)
    assert same(run, url, root, "show", "churn@production~1", env=ro)["version"] == 1
    quick = json.loads(ok(run("verify", "--quick", "--json", "-R", url, env=ro)).stdout)
    assert quick["ok"] is True and quick["versions"] == 4
    out = tmp_path / "served"
    ok(run("get", "churn@3", "--output", out, "-R", url, env=ro))
    assert (out / "w3.bin").read_bytes() == b"churn weights 3" * 50
    site = tmp_path / "site"
    ok(run("report", "--output", site, "-R", url, env=ro))
    assert (site / "index.html").is_file() and "churn" in (site / "index.html").read_text()


def test_an_audit_log_of_several_segments_is_reused_by_the_next_push(
    aws_env: SeaweedS3, run: Any, cli: Any, tmp_path: Path
) -> None:
    url = f"s3://{BUCKET}/audit-{secrets.token_hex(4)}"
    root = make_registry(tmp_path)
    toml = root / "modelreg.toml"
    toml.write_text(toml.read_text().replace("[remote]", f'[remote]\nendpoint_url = "{aws_env.endpoint_url}"'))
    reg = Registry.open(root)
    n = 0
    while (root / LOG_NAME).stat().st_size <= SEGMENT + (SEGMENT // 4):  # entries of 8 KiB
        reg.promote("fraud@1", "archived" if n % 2 else "staging", reason=f"{n} " + "r" * 8000)
        n += 1
    first = push(cli, root, url)
    client = aws_env.client()
    prefix = url.split("/", 3)[3] + "/"
    pointer = json.loads(client.get_object(Bucket=BUCKET, Key=prefix + POINTER)["Body"].read())
    index = json.loads(client.get_object(Bucket=BUCKET, Key=prefix + RECORDS + pointer["publication"])["Body"].read())
    assert len(index["audit"]) == 2
    reg.promote("churn@3", "production")
    from modelreg.ops.storage.publish import publish
    from modelreg.stores.remotes.s3 import S3Backend

    second = publish(reg, S3Backend(BUCKET, prefix, endpoint_url=aws_env.endpoint_url))
    # Sent again: the last segment, churn's changed holder and its listing, the index; never the
    # first segment (4 MiB) nor anything of fraud's.
    assert second.records <= 4 and second.bytes < SEGMENT, second
    pointer = json.loads(client.get_object(Bucket=BUCKET, Key=prefix + POINTER)["Body"].read())
    again = json.loads(client.get_object(Bucket=BUCKET, Key=prefix + RECORDS + pointer["publication"])["Body"].read())
    assert again["audit"][0] == index["audit"][0] and again["audit"][1] != index["audit"][1]
    assert first["published"] != second.publication
    env: dict[str, str | None] = {"MODELREG_ENDPOINT_URL": aws_env.endpoint_url}
    same(run, url, root, "log", "churn", env=env)
    assert same(run, url, root, "show", "churn@production~1", env=env)["version"] == 2
    quick = json.loads(ok(run("verify", "--quick", "--json", "-R", url, env=env)).stdout)
    assert quick["ok"] is True


def test_a_warm_reader_asks_the_bucket_only_for_the_pointer(
    aws_env: SeaweedS3, run: Any, cli: Any, tmp_path: Path
) -> None:
    """With nothing republished, a second call reads the pointer alone, and with the keys, region
    and endpoint in the environment it reads it without botocore: neither boto3 nor botocore is
    even imported."""
    url = f"s3://{BUCKET}/warm-{secrets.token_hex(4)}"
    s3_registry(tmp_path, cli, aws_env, url)
    env: dict[str, str | None] = {"MODELREG_ENDPOINT_URL": aws_env.endpoint_url}

    def modules(*args: str) -> set[str]:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "modelreg", *args, "-R", url],
            env={**os.environ, **{k: v for k, v in env.items() if v is not None}},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return {line.rpartition("|")[2].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}

    cold = modules("get-production", "churn", "--json")
    warm = modules("get-production", "churn", "--json")
    assert "boto3" in cold
    assert not {m for m in warm if m.split(".")[0] in ("boto3", "botocore", "s3transfer")}, sorted(warm)
    answer = json.loads(ok(run("get-production", "churn", "--json", "-R", url, env=env)).stdout)
    assert Path(answer["path"], "w2.bin").read_bytes() == b"churn weights 2" * 50
