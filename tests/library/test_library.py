"""The library API used directly: it returns values, raises typed errors and never prints."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import pytest
from conftest import AUTHOR, snapshot, write_file
from filelock import FileLock

import modelreg
from modelreg import (
    ConflictError,
    IntegrityError,
    ModelregError,
    NotFoundError,
    Ref,
    Registry,
    UsageError,
    Version,
    parse_ref,
)
from modelreg.errors import LockTimeoutError


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def quiet(capsys: pytest.CaptureFixture[str]) -> Any:
    """Yields, then asserts that nothing was printed to stdout or stderr meanwhile."""

    @contextlib.contextmanager
    def check() -> Any:
        capsys.readouterr()
        yield
        captured = capsys.readouterr()
        assert captured.out == "" and captured.err == "", "the library must never print"

    return check


def test_error_types_carry_exit_codes() -> None:
    assert (UsageError.exit_code, NotFoundError.exit_code, ConflictError.exit_code, IntegrityError.exit_code) == (
        2,
        3,
        4,
        5,
    )
    for cls in (UsageError, NotFoundError, ConflictError, IntegrityError, LockTimeoutError):
        assert issubclass(cls, ModelregError)
    assert issubclass(LockTimeoutError, ConflictError)
    assert modelreg.__version__


def test_init_and_open(tmp_path: Path, quiet: Any) -> None:
    with quiet():
        fresh, created = Registry.init(tmp_path / "r")
        assert created is True and fresh.root == tmp_path / "r" and (tmp_path / "r" / "modelreg.toml").is_file()
        before = snapshot(tmp_path / "r")
        again, created = Registry.init(tmp_path / "r")
        assert created is False and again.root == fresh.root and snapshot(tmp_path / "r") == before
        assert Registry.open(tmp_path / "r").root == tmp_path / "r"
        deep = tmp_path / "r" / "a" / "b"
        deep.mkdir(parents=True)
        assert Registry.open(start=deep).root.resolve() == (tmp_path / "r").resolve()
        with pytest.raises(NotFoundError) as info:
            Registry.open(tmp_path / "missing")
        assert "modelreg init" in info.value.message and info.value.exit_code == 3
        (tmp_path / "file").write_text("x")
        with pytest.raises(UsageError):
            Registry.init(tmp_path / "file")


def test_full_lifecycle_through_the_library(reg_path: Path, tmp_path: Path, quiet: Any) -> None:
    w1 = write_file(tmp_path / "v1" / "model.pkl", b"weights one")
    w2 = write_file(tmp_path / "v2" / "model.pkl", b"weights two")
    with quiet():
        reg = Registry.open(reg_path)
        v1, archived = reg.register("lead_scoring", [w1], metrics={"accuracy": 0.8}, datasets=["d.csv"])
        assert archived == ()
        assert isinstance(v1, Version)
        assert (v1.name, v1.version, v1.stage, v1.created_by) == ("lead_scoring", 1, "development", AUTHOR)
        assert v1.metrics == {"accuracy": 0.8}
        assert v1.lineage["datasets"] == ["d.csv"]
        assert [(f.path, f.size, f.digest) for f in v1.files] == [("model.pkl", 11, sha(b"weights one"))]
        v2, _ = reg.register(
            "lead_scoring",
            [w2],
            metrics={"accuracy": "0.85"},
            params={"depth": 3},
            tags={"team": "growth"},
            description="second",
        )
        assert v2.version == 2 and v2.metrics == {"accuracy": 0.85} and v2.params == {"depth": "3"}

        with pytest.raises(NotFoundError):
            reg.get_production("lead_scoring")
        first = reg.promote("lead_scoring@1", "production", reason="launch")
        assert first.changed and first.from_stage == "development" and first.archived == ()
        result = reg.promote(Ref("lead_scoring", version=2), "production")
        assert result.changed and result.archived == (1,) and result.version.stage == "production"
        assert reg.promote("lead_scoring@2", "production").changed is False

        prod = reg.get_production("lead_scoring")
        assert (prod.version, prod.stage, prod.digest) == (2, "production", v2.digest)
        assert reg.resolve("lead_scoring@1").stage == "archived"
        assert reg.resolve("lead_scoring").version == 2
        assert reg.resolve(parse_ref("lead_scoring@production")).version == 2
        assert reg.resolve(f"lead_scoring@sha256:{v1.digest[7:17]}").version == 1

        ann = reg.annotate("lead_scoring", description="scores leads", set_tags={"owner": "ml"})
        assert (ann.version, ann.description, ann.tags, ann.changed) == (None, "scores leads", {"owner": "ml"}, True)
        ann = reg.annotate("lead_scoring@1", description="v1", unset_tags=["absent"])
        assert (ann.version, ann.description, ann.changed) == (1, "v1", True)
        assert reg.resolve("lead_scoring@1").description == "v1"

        models = reg.list_models()
        assert [(m.name, m.latest_version, m.description) for m in models] == [("lead_scoring", 2, "scores leads")]
        assert models[0].stages == {"development": [], "staging": [], "production": 2, "archived": [1]}
        assert reg.list_models(stage="staging") == []
        assert [v.version for v in reg.list_versions("lead_scoring", stage="archived")] == [1]
        assert [v.version for v in reg.list_versions("lead_scoring", tags={"team": "growth"})] == [2]

        actions = [(e["action"], e["version"]) for e in reg.history("lead_scoring")]
        assert actions == [
            ("register", 1),
            ("register", 2),
            ("promote", 1),
            ("archive", 1),
            ("promote", 2),
            ("annotate", None),
            ("annotate", 1),
        ]
        out = reg.export(prod, tmp_path / "out")
        assert [p.name for p in out] == ["model.pkl"]
        assert (tmp_path / "out" / "model.pkl").read_bytes() == b"weights two"
        assert (reg.materialize(prod) / "model.pkl").read_bytes() == b"weights two"


def test_typed_errors(reg_path: Path, tmp_path: Path, quiet: Any) -> None:
    src = write_file(tmp_path / "m.bin", b"bytes")
    with quiet():
        reg = Registry.open(reg_path)
        before = snapshot(reg_path)
        for bad in ("Bad Name", "../x", "a" * 101, "", "x/y"):
            with pytest.raises(UsageError):
                reg.register(bad, [src])
        with pytest.raises(UsageError):
            reg.register("m", [tmp_path / "missing"])
        with pytest.raises(UsageError):
            reg.register("m", [src], metrics={"acc": "high"})
        with pytest.raises(UsageError):
            reg.register("m", [src], metrics={"acc": True})
        with pytest.raises(UsageError):
            reg.register("m", [src], stage="nowhere")
        assert snapshot(reg_path) == before, "refused registrations leave no trace"
        with pytest.raises(NotFoundError):
            reg.resolve("m@1")
        reg.register("m", [src])
        with pytest.raises(NotFoundError):
            reg.resolve("m@2")
        with pytest.raises(NotFoundError):
            reg.resolve("m@staging")
        with pytest.raises(UsageError) as info:
            reg.promote("m@1", "prod")
        assert all(s in info.value.message for s in ("development", "staging", "production", "archived"))
        with pytest.raises(UsageError):
            parse_ref("m@sha256:abc")


def test_policy_and_lock_refusals(reg_path: Path, tmp_path: Path, quiet: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = reg_path / "modelreg.toml"
    config.write_text(config.read_text().replace("require_reason = []", 'require_reason = ["production"]'))
    with quiet():
        reg = Registry.open(reg_path)
        reg.register("m", [write_file(tmp_path / "m.bin", b"x")])
        with pytest.raises(ConflictError) as info:
            reg.promote("m@1", "production")
        assert info.value.exit_code == 4
        monkeypatch.setenv("MODELREG_LOCK_TIMEOUT", "0.1")
        reg = Registry.open(reg_path)
        with FileLock(str(reg.model_lock_path("m"))), pytest.raises(LockTimeoutError):
            reg.promote("m@1", "staging")
        assert reg.resolve("m@1").stage == "development"
        assert reg.promote("m@1", "staging").changed  # the lock released, it goes through


def test_integrity_error_on_corrupt_blob(reg_path: Path, tmp_path: Path, quiet: Any) -> None:
    with quiet():
        reg = Registry.open(reg_path)
        v, _ = reg.register("m", [write_file(tmp_path / "m.bin", b"important bytes")])
        blob = reg.blobs.path(v.files[0].digest)
        blob.chmod(0o644)
        blob.write_bytes(b"importanT bytes")
        with pytest.raises(IntegrityError) as info:
            reg.export(v, tmp_path / "out")
        assert info.value.exit_code == 5
        with pytest.raises(IntegrityError):
            reg.materialize(v)
        blob.unlink()
        with pytest.raises(NotFoundError):
            reg.export(v, tmp_path / "out2")


def test_corrupt_manifest_is_integrity_error(reg_path: Path, tmp_path: Path, quiet: Any) -> None:
    with quiet():
        reg = Registry.open(reg_path)
        reg.register("m", [write_file(tmp_path / "m.bin", b"x")])
        manifest = next((reg_path / "models" / "m").rglob("1.yaml"))
        manifest.write_text("format_version: 1\nname: [unclosed\n")
        with pytest.raises(IntegrityError):
            reg.resolve("m@1")


def test_dedup_through_the_library(reg_path: Path, tmp_path: Path) -> None:
    data = b"same bytes" * 1000
    reg = Registry.open(reg_path)
    for i in range(3):
        reg.register(f"model-{i}", [write_file(tmp_path / f"d{i}" / f"f{i}.bin", data)])
    blobs = [p for p in (reg_path / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == 1 and blobs[0].read_bytes() == data
    assert reg.blobs.exists(sha(data)) and reg.blobs.path(sha(data)) == blobs[0]


@pytest.mark.parametrize("change", ["annotate", "promote"])
def test_a_change_to_an_unknown_model_leaves_no_lock_file(tmp_path: Path, change: str) -> None:
    reg, _ = Registry.init(tmp_path / "reg")
    with pytest.raises(NotFoundError):
        if change == "annotate":
            reg.annotate("ghost", description="x")
        else:
            reg.promote("ghost@1", "production")
    assert not reg.model_lock_path("ghost").exists()


def test_a_failed_push_after_register_names_the_registered_version(tmp_path: Path) -> None:
    reg_dir = tmp_path / "reg"
    reg, _ = Registry.init(reg_dir)
    remote = tmp_path / "remote-file"
    remote.write_text("a file where the remote directory should be")
    with open(reg_dir / "modelreg.toml", "a") as fh:
        fh.write(f'url = "{remote}"\n')
    reg = Registry.open(reg_dir)
    with pytest.raises(ModelregError) as caught:
        reg.register("m", [write_file(tmp_path / "w.bin", b"weights")], push=True)
    assert "registered m@1" in caught.value.message
    assert "modelreg push m@1" in caught.value.message
    assert reg.resolve("m@1").version == 1


def test_a_reason_fits_an_audit_entry_and_a_huge_metric_is_refused(tmp_path: Path) -> None:
    reg, _ = Registry.init(tmp_path / "reg")
    reg.register("m", [write_file(tmp_path / "w.bin", b"w")])
    with pytest.raises(UsageError, match="8,192"):
        reg.promote("m@1", "staging", reason="é" * 8193)
    assert reg.promote("m@1", "staging", reason="\u0001" * 8192).changed  # escapes to 6 bytes each, still fits
    with pytest.raises(UsageError, match="2\\*\\*53"):
        reg.register("m", [write_file(tmp_path / "x.bin", b"x")], metrics={"n": 10**5000})
