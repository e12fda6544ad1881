"""Format 2 in the local store: large files as content-defined chunks, small ones as blobs."""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
from pathlib import Path

import pytest
from support.chunks import (
    MiB,
    changed,
    flip_byte,
    packs,
    recipes,
    safetensors,
    store_bytes,
    tensors,
    whole_blobs,
)


def sha(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


# -- the chunker ------------------------------------------------------------------------------


def test_cut_points_match_the_golden_vector() -> None:
    """FastCDC 2020 at 64/16/256 KiB, NC 1, seed 0: a library upgrade that moves a boundary fails
    here (stored data stays readable, only dedup against older versions would suffer)."""
    from modelreg.stores.chunks.ingest import chunker

    data = random.Random(15).randbytes(8 * MiB)
    lengths = [c.length for c in chunker().cut_buf(data)]
    assert len(lengths) == 105
    assert lengths[:5] == [91174, 44951, 25847, 124894, 107637]
    packed = struct.pack(f"<{len(lengths)}I", *lengths)
    assert hashlib.sha256(packed).hexdigest() == "19502a99f0208692f16b6b6b26356ccd8f9c89c130394da0e5e9e47a7f322869"


@pytest.mark.parametrize("buf_size", [1 * MiB, 3 * MiB + 17, 8 * MiB])
def test_streamed_cuts_are_the_whole_files_cuts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, buf_size: int) -> None:
    """Buffers end anywhere: the carried tail gives exactly the cuts of the file read at once."""
    from modelreg.stores.chunks import ingest
    from modelreg.stores.chunks.format import chunk_id
    from modelreg.stores.chunks.packs import PackWriter

    monkeypatch.setattr(ingest, "BUF_SIZE", buf_size)
    data = random.Random(buf_size).randbytes(11 * MiB + 12345)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    writer = PackWriter(tmp_path / "packs")
    fd = os.open(src, os.O_RDONLY)
    try:
        digest, read, refs = ingest.ingest(fd, len(data), set(), writer)
    finally:
        os.close(fd)
    published = writer.finish()
    whole = [(chunk_id(bytes(c.data)), c.length) for c in ingest.chunker().cut_buf(data)]
    assert refs == whole
    assert (digest, read) == ("sha256:" + hashlib.sha256(data).hexdigest(), len(data))
    stored = b"".join((tmp_path / "packs" / f"{p.name}.pack").read_bytes() for p in published)
    assert stored == data  # every chunk new, written once, in file order


# -- register, get, export ----------------------------------------------------------------------


def test_a_large_file_is_stored_as_chunks_and_served_as_a_verified_copy(cli, reg_path, tmp_path, make_file):
    model = make_file(tmp_path / "model.bin", 20 * MiB + 3)
    small = make_file(tmp_path / "vocab.txt", 4000)
    result = cli("register", "m", model, small, "-R", reg_path, "--json")
    assert result.exit_code == 0, result.stderr
    files = {f["path"]: f for f in json.loads(result.stdout)["files"]}
    assert files["model.bin"]["digest"] == sha(model)  # the digest is the file's SHA-256, as in format 1
    assert [p.name for p in whole_blobs(reg_path)] == [sha(small).partition(":")[2]]
    assert [p.name for p in recipes(reg_path)] == [sha(model).partition(":")[2]]
    assert packs(reg_path)
    got = cli("get", "m", "--path", "-R", reg_path)
    assert got.exit_code == 0, got.stderr
    served = Path(got.stdout.strip()) / "model.bin"
    assert served.read_bytes() == model.read_bytes()
    assert os.stat(served).st_nlink == 1  # a copy, never a link into the store
    assert all(os.stat(p).st_ino != os.stat(served).st_ino for p in packs(reg_path))
    out = tmp_path / "out"
    assert cli("export", "m@1", out, "-R", reg_path).exit_code == 0
    assert (out / "model.bin").read_bytes() == model.read_bytes()
    assert cli("verify", "-R", reg_path).exit_code == 0


def test_a_second_version_stores_only_the_changed_chunks(cli, reg_path, tmp_path):
    """3 of 40 tensors change and the header grows by a few bytes, shifting every offset."""
    v1 = tensors(40, 1 * MiB, seed=1)
    first = safetensors(tmp_path / "v1" / "model.safetensors", v1)
    v2 = changed(v1, [3, 17, 30], seed=2)
    second = safetensors(tmp_path / "v2" / "model.safetensors", v2, "step=1000000, re-saved")
    assert first.stat().st_size != second.stat().st_size
    assert cli("register", "m", first, "-R", reg_path).exit_code == 0
    before = store_bytes(reg_path)
    result = cli("register", "m", second, "-R", reg_path, "--json")
    assert result.exit_code == 0, result.stderr
    added = store_bytes(reg_path) - before
    assert added <= 0.10 * second.stat().st_size, added  # 3 tensors are 7.5 % of the file
    assert added >= 3 * MiB
    stats = json.loads(cli("stats", "m", "-R", reg_path, "--json").stdout)
    assert stats["total"]["logical_bytes"] == first.stat().st_size + second.stat().st_size
    assert stats["total"]["stored_bytes"] < 0.56 * stats["total"]["logical_bytes"]
    got = cli("get", "m@2", "--path", "-R", reg_path)
    assert (Path(got.stdout.strip()) / "model.safetensors").read_bytes() == second.read_bytes()
    got = cli("get", "m@1", "--path", "-R", reg_path)
    assert (Path(got.stdout.strip()) / "model.safetensors").read_bytes() == first.read_bytes()


def test_registering_the_same_bytes_again_stores_nothing(cli, reg_path, tmp_path, make_file):
    model = make_file(tmp_path / "model.bin", 12 * MiB)
    assert cli("register", "m", model, "-R", reg_path).exit_code == 0
    before = sorted((p.name, p.stat().st_size) for p in (reg_path / "blobs").rglob("*") if p.is_file())
    assert cli("register", "other", model, "-R", reg_path).exit_code == 0
    after = sorted((p.name, p.stat().st_size) for p in (reg_path / "blobs").rglob("*") if p.is_file())
    assert after == before


def test_repeated_content_inside_one_file_is_stored_once(cli, reg_path, tmp_path):
    block = random.Random(7).randbytes(4 * MiB)
    model = tmp_path / "model.bin"
    model.write_bytes(block * 5)
    assert cli("register", "m", model, "-R", reg_path).exit_code == 0
    assert store_bytes(reg_path) < 6 * MiB
    got = cli("get", "m", "--path", "-R", reg_path)
    assert (Path(got.stdout.strip()) / "model.bin").read_bytes() == block * 5


def test_files_under_the_threshold_stay_whole_blobs(cli, reg_path, tmp_path, make_file):
    model = make_file(tmp_path / "model.bin", 8 * MiB - 1)
    assert cli("register", "m", model, "-R", reg_path).exit_code == 0
    assert [p.name for p in whole_blobs(reg_path)] == [sha(model).partition(":")[2]]
    assert not recipes(reg_path) and not packs(reg_path)


def test_a_file_that_changes_while_registered_is_refused(reg_path, tmp_path, make_file, monkeypatch):
    from modelreg import Registry
    from modelreg.stores.chunks import ingest

    model = make_file(tmp_path / "model.bin", 24 * MiB)
    real = ingest.ingest

    def grow_then_ingest(src_fd, limit, known, writer, progress=None):  # type: ignore[no-untyped-def]
        with open(model, "ab") as fh:
            fh.write(b"more")
        return real(src_fd, limit, known, writer, progress)

    monkeypatch.setattr(ingest, "ingest", grow_then_ingest)
    from modelreg.errors import UsageError

    with pytest.raises(UsageError, match="changed while it was being registered"):
        Registry.open(reg_path).register("m", [model])
    assert not recipes(reg_path)


# -- damage -------------------------------------------------------------------------------------


def test_a_corrupt_chunk_is_found_by_verify_and_never_served(cli, run, reg_path, tmp_path, make_file):
    model = make_file(tmp_path / "model.bin", 16 * MiB)
    assert cli("register", "m", model, "-R", reg_path).exit_code == 0
    flip_byte(packs(reg_path)[0], 5 * MiB // 3)
    verified = run("verify", "-R", reg_path, "--json")
    assert verified.returncode == 5
    findings = json.loads(verified.stdout)["findings"]
    assert any("do not match their ids" in f["message"] for f in findings), findings
    got = run("get", "m", "--path", "-R", reg_path)
    assert got.returncode == 5, got.stderr
    assert "do not match their ids" in got.stderr
    out = tmp_path / "out"
    assert run("export", "m@1", out, "-R", reg_path).returncode == 5
    assert not (out / "model.bin").exists()


def test_a_served_copy_that_was_changed_is_rebuilt_from_the_chunks(cli, reg_path, tmp_path, make_file):
    model = make_file(tmp_path / "model.bin", 10 * MiB)
    assert cli("register", "m", model, "-R", reg_path).exit_code == 0
    served = Path(cli("get", "m", "--path", "-R", reg_path).stdout.strip()) / "model.bin"
    served.chmod(0o644)
    with open(served, "r+b") as fh:
        fh.write(b"tampered")
    again = Path(cli("get", "m", "--path", "-R", reg_path).stdout.strip()) / "model.bin"
    assert again.read_bytes() == model.read_bytes()


def test_a_killed_register_leaves_nothing_that_verify_rejects_and_gc_clears_it(run, reg_path, tmp_path, make_file):
    model = make_file(tmp_path / "model.bin", 40 * MiB)
    crashed = run("register", "m", model, "-R", reg_path, env={"MODELREG_TEST_CRASH_AT": "after-blobs"})
    assert crashed.returncode != 0
    assert recipes(reg_path)  # stored, not recorded
    assert run("verify", "-R", reg_path).returncode == 0
    swept = run("gc", "--grace", "0", "-R", reg_path, "--json")
    assert swept.returncode == 0, swept.stderr
    report = json.loads(swept.stdout)
    assert report["recipes_removed"] == [sha(model)] and report["packs_removed"]
    assert not recipes(reg_path) and not packs(reg_path)
    assert run("register", "m", model, "-R", reg_path).returncode == 0
    assert run("verify", "-R", reg_path).returncode == 0


def test_stats_counts_each_chunk_once_per_model_and_once_in_total(cli, reg_path, tmp_path, make_file):
    shared = make_file(tmp_path / "shared.bin", 10 * MiB)
    small = make_file(tmp_path / "small.txt", 1000)
    assert cli("register", "a", shared, small, "-R", reg_path).exit_code == 0
    assert cli("register", "b", shared, "-R", reg_path).exit_code == 0
    assert cli("register", "b", shared, "-R", reg_path).exit_code == 0
    result = cli("stats", "-R", reg_path, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    models = {m["name"]: m for m in data["models"]}
    size = 10 * MiB
    assert (models["a"]["logical_bytes"], models["a"]["stored_bytes"]) == (size + 1000, size + 1000)
    assert (models["b"]["versions"], models["b"]["logical_bytes"], models["b"]["stored_bytes"]) == (2, 2 * size, size)
    assert models["b"]["saving"] == 0.5
    total = data["total"]
    assert (total["logical_bytes"], total["stored_bytes"]) == (3 * size + 1000, size + 1000)
    assert total["on_disk_bytes"] >= size
    human = cli("stats", "b", "-R", reg_path)
    assert human.exit_code == 0 and "50.0%" in human.stdout
    assert cli("stats", "nope", "-R", reg_path).exit_code == 3


def test_push_and_pull_refuse_a_job_count_below_one(cli, reg_path):
    result = cli("push", "--jobs", "0", "-R", reg_path)
    assert result.exit_code == 2
