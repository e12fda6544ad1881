"""Format 2 on both remotes (a directory and a real S3 server, SeaweedFS on loopback): push and
pull move only the chunks the other side lacks, resume after kill -9, and repair corruption."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.chunks import MiB, changed, flip_byte, packs, safetensors, tensors
from support.remotes import TRACKED, configure_remote
from support.results import ok_doc as ok
from support.s3server import SeaweedS3

BUCKET = "modelreg-chunk-tests"


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


def listing(root: Path) -> dict[str, int]:
    """The files under ``root`` with their sizes, read while a push may be writing there: a file
    renamed or removed between the listing and its stat is left out (the next look sees it
    under its new name); os.walk skips a folder that goes away the same way."""
    found: dict[str, int] = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            try:
                info = path.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):
                found[path.relative_to(root).as_posix()] = info.st_size
    return found


class Side:
    """A remote as the test sees it: its objects by key (``packs/…``, ``recipes/…``)."""

    def __init__(self, kind: str, url: str, *, path: Path | None = None, server: Any = None, prefix: str = "") -> None:
        self.kind, self.url, self.path, self.server, self.prefix = kind, url, path, server, prefix

    def configure(self, reg: Path) -> None:
        endpoint = self.server.endpoint_url if self.server is not None else None
        configure_remote(reg, self.url, endpoint, "us-east-1" if self.server is not None else None)

    def objects(self) -> dict[str, int]:
        if self.server is not None:
            pages = self.server.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=self.prefix)
            items = [item for page in pages for item in page.get("Contents", []) or []]
            return {item["Key"][len(self.prefix) + 1 :]: int(item["Size"]) for item in items}
        assert self.path is not None
        return listing(self.path)

    def size(self) -> int:
        return sum(n for key, n in self.objects().items() if not key.startswith("quarantine/"))

    def read(self, key: str) -> bytes:
        if self.server is not None:
            return bytes(self.server.client().get_object(Bucket=BUCKET, Key=f"{self.prefix}/{key}")["Body"].read())
        assert self.path is not None
        return (self.path / key).read_bytes()

    def write(self, key: str, data: bytes) -> None:
        if self.server is not None:
            self.server.client().put_object(Bucket=BUCKET, Key=f"{self.prefix}/{key}", Body=data)
        else:
            assert self.path is not None
            (self.path / key).chmod(0o644)
            (self.path / key).write_bytes(data)


@pytest.fixture(params=["dir", "s3"])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Side:
    if request.param == "s3":
        server = request.getfixturevalue("aws_env")
        prefix = f"chunks-{secrets.token_hex(6)}"
        return Side("s3", f"s3://{BUCKET}/{prefix}", server=server, prefix=prefix)
    (tmp_path / "shared").mkdir()
    return Side("dir", "../shared", path=tmp_path / "shared")


def clone(src: Path, dest: Path) -> Path:
    """What a teammate gets from git: the tracked files only."""
    dest.mkdir()
    for name in TRACKED:
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name)
        elif (src / name).exists():
            shutil.copy2(src / name, dest / name)
    return dest


def served(run: Any, reg: Path, ref: str, name: str) -> bytes:
    return Path(ok(run("get", ref, "--path", "-R", reg)).strip(), name).read_bytes()


# -- dedup --------------------------------------------------------------------------------------


def test_push_and_pull_move_only_the_chunks_the_other_side_lacks(run, reg_path, tmp_path, side):
    side.configure(reg_path)
    v1 = tensors(40, 1 * MiB, seed=11)
    first = safetensors(tmp_path / "v1" / "model.safetensors", v1)
    second = safetensors(tmp_path / "v2" / "model.safetensors", changed(v1, [5, 20, 33], seed=12), "re-saved, step 2")
    ok(run("register", "m", first, "-R", reg_path))
    pushed = ok(run("push", "-R", reg_path, "--json"))
    assert pushed["transferred"] == 1 and pushed["bytes"] >= first.stat().st_size
    assert not any(key.startswith("sha256/") for key in side.objects())  # no whole blob of the large file
    before = side.size()
    ok(run("register", "m", second, "-R", reg_path))
    pushed = ok(run("push", "m@2", "-R", reg_path, "--json", "--jobs", "3"))
    limit = 0.10 * second.stat().st_size
    assert pushed["transferred"] == 1 and 3 * MiB <= pushed["bytes"] <= limit, pushed
    assert side.size() - before <= limit
    again = ok(run("push", "-R", reg_path, "--json"))
    assert again["transferred"] == 0 and again["bytes"] == 0 and again["already_present"] == 2

    teammate = clone(reg_path, tmp_path / "teammate")
    pulled = ok(run("pull", "m@2", "-R", teammate, "--json"))
    assert pulled["transferred"] == 1 and pulled["bytes"] >= second.stat().st_size * 0.9
    assert served(run, teammate, "m@2", "model.safetensors") == second.read_bytes()
    pulled = ok(run("pull", "m@1", "-R", teammate, "--json"))
    assert pulled["transferred"] == 1 and pulled["bytes"] <= limit, pulled
    assert served(run, teammate, "m@1", "model.safetensors") == first.read_bytes()
    assert ok(run("verify", "-R", teammate)) is not None


@pytest.mark.parametrize("jobs", [1, 3, 4])
def test_the_changes_of_a_version_go_up_in_as_many_streams_as_jobs(run, reg_path, tmp_path, side, jobs):
    # Locally a version's changes are one pack; sent whole, its parts would go one after the other.
    side.configure(reg_path)
    v1 = tensors(40, 1 * MiB, seed=21)
    first = safetensors(tmp_path / "v1" / "model.safetensors", v1)
    second = safetensors(tmp_path / "v2" / "model.safetensors", changed(v1, list(range(0, 40, 2)), seed=22))
    ok(run("register", "m", first, "-R", reg_path))
    ok(run("push", "-R", reg_path))
    before_local = {p.name for p in packs(reg_path)}
    before_remote = {k for k in side.objects() if k.endswith(".pack")}
    ok(run("register", "m", second, "-R", reg_path))
    (new_local,) = {p.name for p in packs(reg_path)} - before_local
    pushed = ok(run("push", "m@2", "-R", reg_path, "--json", "--jobs", str(jobs)))
    new_remote = {k for k in side.objects() if k.endswith(".pack")} - before_remote
    if jobs == 1:
        assert new_remote == {f"packs/{new_local}"}  # one stream: the local pack as it is
    else:
        assert len(new_remote) == jobs and f"packs/{new_local}" not in new_remote, new_remote
    assert 20 * MiB <= pushed["bytes"] <= 0.6 * second.stat().st_size, pushed

    teammate = clone(reg_path, tmp_path / "teammate")
    ok(run("pull", "m@2", "-R", teammate))
    assert served(run, teammate, "m@2", "model.safetensors") == second.read_bytes()
    assert ok(run("verify", "-R", teammate)) is not None


def test_get_fetches_missing_chunks_from_the_remote(run, reg_path, tmp_path, side, make_file):
    side.configure(reg_path)
    model = make_file(tmp_path / "model.bin", 20 * MiB)
    ok(run("register", "m", model, "--stage", "production", "-R", reg_path))
    ok(run("push", "-R", reg_path))
    teammate = clone(reg_path, tmp_path / "teammate")
    path = ok(run("get-production", "m", "--path", "-R", teammate)).strip()
    assert (Path(path) / "model.bin").read_bytes() == model.read_bytes()


# -- kill -9 and resume -------------------------------------------------------------------------


def _kill_when(proc: subprocess.Popen[str], ready: Any, budget: float = 900.0) -> bool:
    """kill -9 ``proc`` as soon as ``ready()``; False when it ended first. ``budget`` only stops
    a hung process from hanging the suite: a slow machine waits for the event, however long."""
    deadline = time.monotonic() + budget
    while proc.poll() is None:
        if ready():
            proc.kill()
            proc.wait()
            return True
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{proc.args} neither reached the kill point nor ended in {budget:.0f}s")
        time.sleep(0.002)
    return False


def _start(*args: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "modelreg", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.slow
def test_a_push_and_a_pull_killed_half_way_resume_with_what_is_missing(run, reg_path, tmp_path, side, make_file):
    side.configure(reg_path)
    model = make_file(tmp_path / "model.bin", 260 * MiB)  # five packs
    ok(run("register", "m", model, "-R", reg_path))
    total = model.stat().st_size

    push = _start("push", "-R", reg_path, "--jobs", "1")
    killed = _kill_when(push, lambda: any(k.endswith(".idx") for k in side.objects()))
    assert killed, "the push ended before it could be killed"
    objects = side.objects()
    assert not any(k.startswith("recipes/") for k in objects)  # not pushed yet: no recipe
    sent = sum(n for k, n in objects.items() if k.endswith(".pack") and k[:-5] + ".idx" in objects)
    assert sent > 0
    resumed = ok(run("push", "-R", reg_path, "--json"))
    assert resumed["transferred"] == 1 and 0 < resumed["bytes"] <= total - sent, (resumed, sent)

    teammate = clone(reg_path, tmp_path / "teammate")
    local_packs = teammate / "blobs" / "chunks" / "packs"
    pull = _start("pull", "-R", teammate, "--jobs", "1")
    killed = _kill_when(pull, lambda: local_packs.is_dir() and any(local_packs.glob("*.idx")))
    assert killed, "the pull ended before it could be killed"
    kept = sum(p.stat().st_size for p in local_packs.glob("*.pack") if p.with_suffix(".idx").exists())
    assert kept > 0 and not (teammate / "blobs" / "chunks" / "recipes").exists()
    resumed = ok(run("pull", "-R", teammate, "--json"))
    assert resumed["transferred"] == 1 and 0 < resumed["bytes"] <= total - kept, (resumed, kept)
    assert served(run, teammate, "m", "model.bin") == model.read_bytes()
    swept = ok(run("gc", "--grace", "0", "-R", teammate, "--json"))
    assert ok(run("verify", "-R", teammate)) is not None
    assert swept["packs_removed"] == []  # nothing the file needs


# -- corruption ---------------------------------------------------------------------------------


def test_a_corrupt_chunk_on_the_remote_is_quarantined_and_a_good_push_repairs_it(run, reg_path, tmp_path, side):
    side.configure(reg_path)
    model = safetensors(tmp_path / "model.safetensors", tensors(24, 1 * MiB, seed=21))
    ok(run("register", "m", model, "-R", reg_path))
    ok(run("push", "-R", reg_path))
    key = next(k for k in side.objects() if k.endswith(".pack"))
    data = bytearray(side.read(key))
    data[len(data) // 2] ^= 0xFF
    side.write(key, bytes(data))

    teammate = clone(reg_path, tmp_path / "teammate")
    failed = run("pull", "-R", teammate)
    assert failed.returncode == 5, failed.stderr
    assert "quarantined" in failed.stderr and "Traceback" not in failed.stderr
    assert key not in side.objects() and any(k.startswith("quarantine/") for k in side.objects())
    assert run("get", "m", "--path", "-R", teammate).returncode != 0  # nothing unverified is served

    repaired = ok(run("push", "-R", reg_path, "--json"))
    assert repaired["transferred"] == 1 and repaired["bytes"] > 0
    ok(run("pull", "-R", teammate))
    assert served(run, teammate, "m", "model.safetensors") == model.read_bytes()
    ok(run("verify", "-R", teammate))


def test_a_corrupt_local_chunk_is_set_aside_and_fetched_again_by_pull(run, reg_path, tmp_path, side, make_file):
    side.configure(reg_path)
    model = make_file(tmp_path / "model.bin", 24 * MiB)
    ok(run("register", "m", model, "-R", reg_path))
    ok(run("push", "-R", reg_path))
    flip_byte(packs(reg_path)[0], 3 * MiB)
    assert run("verify", "-R", reg_path).returncode == 5
    refused = run("push", "m", "-R", reg_path)  # nothing to send, and corrupt bytes never spread
    assert refused.returncode == 0
    pulled = run("pull", "-R", reg_path, "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert "did not match their ids" in pulled.stderr
    assert json.loads(pulled.stdout)["transferred"] == 1
    assert any((reg_path / "blobs" / "quarantine").iterdir())
    ok(run("verify", "-R", reg_path))
    assert served(run, reg_path, "m", "model.bin") == model.read_bytes()


# -- the client ---------------------------------------------------------------------------------

PROBE = """
import atexit, sys
atexit.register(lambda: sys.stderr.write(f"botocore loaded: {'botocore' in sys.modules}\\n"))
sys.argv = ["modelreg", *sys.argv[1:]]
from modelreg.__main__ import main
main()
"""


def _probed(*args: Any, env: dict[str, str] | None = None) -> tuple[dict[str, Any], bool]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *map(str, args), "--json"], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), "botocore loaded: True" in done.stderr


def test_push_and_pull_reach_the_bucket_without_botocore_where_the_environment_holds_the_keys(
    reg_path, tmp_path, make_file, request
):
    """Listings, reads and plain writes go through obstore (botocore's client costs 0.16 s to
    open); MODELREG_S3_CLIENT=botocore sends every call through botocore instead."""
    server = request.getfixturevalue("aws_env")
    prefix = f"lane-{secrets.token_hex(6)}"
    Side("s3", f"s3://{BUCKET}/{prefix}", server=server, prefix=prefix).configure(reg_path)
    model = make_file(tmp_path / "model.bin", 12 * MiB)
    ok_register = subprocess.run(
        [sys.executable, "-m", "modelreg", "register", "m", str(model), "-R", str(reg_path)], capture_output=True
    )
    assert ok_register.returncode == 0, ok_register.stderr
    pushed, botocore = _probed("push", "-R", reg_path)
    assert pushed["transferred"] == 1 and pushed["bytes"] >= model.stat().st_size and not botocore

    for client, loaded in (("", False), ("botocore", True)):
        teammate = clone(reg_path, tmp_path / f"teammate-{client or 'obstore'}")
        env = {**os.environ, "MODELREG_S3_CLIENT": client}
        pulled, botocore = _probed("pull", "-R", teammate, env=env)
        assert pulled["transferred"] == 1 and botocore is loaded
        served_path = subprocess.run(
            [sys.executable, "-m", "modelreg", "get", "m", "--path", "-R", str(teammate)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert (Path(served_path) / "model.bin").read_bytes() == model.read_bytes()
