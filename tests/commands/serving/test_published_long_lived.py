"""A serving process keeps one published registry open for its whole life and asks it, again and
again, which version is in production while a writer keeps promoting and pushing.

It reads the publication it opened until ``refresh`` follows the pointer, and then nothing of the
earlier publication stays: its view, its records and its parses are removed once enough newer
publications were read and the grace period passed (aged here by moving the files' times back,
as a long wait would), so the cache stays bounded however long the process lives. Against the
real S3 server (SeaweedFS on loopback)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest
from support.results import ok
from support.s3server import SeaweedS3

from modelreg import Registry
from modelreg.base.machine import registry_holding
from modelreg.registry import PublishedRegistry
from modelreg.repo.published import KEEP_VIEWS, RECORDS, VIEW_GRACE

BUCKET = "modelreg-long-lived"
ROUNDS = 10


@pytest.fixture(scope="module")
def s3server(s3_server: SeaweedS3) -> SeaweedS3:
    s3_server.create_bucket(BUCKET)
    return s3_server


def age(folder: Path) -> None:
    """Every file and folder under ``folder`` as if written twice the grace period earlier."""
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in (*dirnames, *filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            os.utime(path, (st.st_atime - 2 * VIEW_GRACE, st.st_mtime - 2 * VIEW_GRACE), follow_symlinks=False)


def named_by(s3: SeaweedS3, prefix: str, publication: str) -> set[str]:
    """Every record a publication names: its index, configuration, audit segments, listings and files."""
    client = s3.client()

    def record(digest: str) -> Any:
        return json.loads(client.get_object(Bucket=BUCKET, Key=f"{prefix}/{RECORDS}{digest}")["Body"].read())

    index = record(publication)
    names = {publication, index["config"], *index["audit"], *index["models"].values()}
    for listing in index["models"].values():
        names |= set(record(listing)["files"].values())
    return names


def test_a_long_lived_reader_follows_publications_with_a_bounded_cache(
    aws_env: SeaweedS3, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"l-{secrets.token_hex(5)}"
    url = f"s3://{BUCKET}/{prefix}"
    monkeypatch.setenv("MODELREG_ENDPOINT_URL", aws_env.endpoint_url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "reg"
    writer, _ = Registry.init(root)
    toml = root / "modelreg.toml"
    toml.write_text(toml.read_text().replace("[remote]", f'[remote]\nendpoint_url = "{aws_env.endpoint_url}"'))
    writer = Registry.open(root)
    for n in (1, 2, 3):
        model = tmp_path / f"w{n}.bin"
        model.write_bytes(f"churn weights {n}".encode() * 30)
        writer.register("churn", [model])
    writer.promote("churn@1", "production")

    def push() -> str:
        pushed = json.loads(ok(cli("push", "--json", "-R", root, env={"MODELREG_REMOTE": url})).stdout)
        return str(pushed["published"])

    publications = [push()]
    reader = Registry.open(url)
    assert isinstance(reader, PublishedRegistry)
    assert reader.get_production("churn").version == 1
    assert reader.refresh() is False  # nothing republished
    mirror = reader.mirror
    views: list[Path] = [reader.root]
    serving = 1
    for round_ in range(ROUNDS):
        target = round_ % 3 + 1 if round_ % 3 + 1 != serving else (round_ + 1) % 3 + 1
        writer.promote(f"churn@{target}", "production", reason=f"round {round_}")
        publications.append(push())
        # Until it refreshes, the reader answers from the publication it opened, whole.
        assert reader.get_production("churn").version == serving
        age(mirror)
        assert reader.refresh() is True and reader.refresh() is False
        views.append(reader.root)
        version = reader.get_production("churn")
        assert version.version == target
        files = reader.get_production_files("churn")
        assert Path(files.path or "", f"w{target}.bin").read_bytes() == f"churn weights {target}".encode() * 30
        # The audit log of each publication is read too (its last segment differs every time).
        assert list(reader.log("churn").entries)[-1].get("reason") == f"round {round_}"
        serving = target

    # Only the views of the last publications remain, and only the records they name.
    remaining = sorted(p.name for p in (mirror / "views").iterdir())
    assert remaining == sorted(publications[-KEEP_VIEWS:])
    needed = set().union(*(named_by(aws_env, prefix, p) for p in publications[-KEEP_VIEWS:]))
    cached = {p.name for p in (mirror / "objects").iterdir()}
    assert cached <= needed, sorted(cached - needed)
    parses = [p for p in (mirror / "state" / "cache" / "parsed").rglob("*") if p.is_file()]
    assert len(parses) <= len(needed)
    # Nor does the process keep the earlier views in mind.
    assert all(registry_holding(view) is None for view in views[:-1])
    assert registry_holding(views[-1]) is not None

    # The answers are still those of the clone.
    assert reader.get_production("churn").digest == writer.get_production("churn").digest


def test_a_registry_directory_is_read_afresh_and_refresh_changes_nothing(tmp_path: Path) -> None:
    reg, _ = Registry.init(tmp_path / "reg")
    assert reg.refresh() is False
