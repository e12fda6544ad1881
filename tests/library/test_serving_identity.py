"""modelreg.serving: a lean import, identity() of served copies (stamp or bytes), drift seen by
identity and by deploy-check, and prediction ids that sort by time and carry the digest."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.governance import json_error, refused, register
from support.results import ok_doc as ok

from modelreg import Registry
from modelreg.errors import IntegrityError, UsageError
from modelreg.records.prediction_ids import parse
from modelreg.serving import Identity, identity, prediction_id


@pytest.fixture
def reg(reg_path: Path) -> Registry:
    return Registry(reg_path)


def register_dir(reg: Registry, tmp_path: Path, files: dict[str, str], name: str = "churn") -> int:
    """A version from a directory, so that its files keep their folders."""
    src = tmp_path / f"src-{len(list(tmp_path.glob('src-*')))}"
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    version, _ = reg.register(name, [src])
    return version.version


def served(reg: Registry, ref: str) -> Path:
    return reg.materialize(reg.resolve(ref))


def test_importing_serving_pulls_in_no_cli_terminal_or_yaml_library(reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path, files=["config.json"])
    path = served(reg, "churn@1")
    reg.resolve("churn@1")  # the manifest is in the parse cache now
    code = (
        "import sys\n"
        "import modelreg.serving as s\n"
        "heavy = ('typer', 'rich', 'yaml', 'jinja2', 'boto3', 'click')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "assert not loaded, loaded\n"
        f"i = s.identity({str(path)!r})\n"
        "print(i.name, i.version, s.prediction_id(i))\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    name, version, pid = proc.stdout.split()
    assert (name, version) == ("churn", "1")
    assert parse(pid).digest_prefix == reg.resolve("churn@1").digest[7:23]


def test_identity_of_a_served_copy_finds_its_registry_from_the_path(
    reg: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_dir(reg, tmp_path, {"model.bin": "one", "sub/tokenizer.json": "{}"})
    register(reg, tmp_path)
    path = served(reg, "churn@2")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # no registry above the working directory
    found = identity(path)
    assert found == Identity("churn", 2, reg.resolve("churn@2").digest, str(path))
    assert found.to_json()["version"] == 2


def test_a_stamped_copy_is_answered_without_reading_its_bytes(
    reg: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(reg, tmp_path)
    path = served(reg, "churn@1")
    from modelreg.ops.deployments import copies

    def no_reading(*_: Any, **__: Any) -> Any:
        raise AssertionError("a stamped, unchanged copy must not be hashed")

    out = tmp_path / "out"
    reg.export(reg.resolve("churn@1"), out)
    monkeypatch.setattr(copies, "sha256_file", no_reading)
    assert identity(path).version == 1
    # A destination this machine wrote (export, --output) is known from the record it keeps.
    assert identity(out, registry=reg.root).version == 1
    # A copy made by other means has neither: its bytes are read.
    plain = tmp_path / "plain"
    shutil.copytree(out, plain)
    with pytest.raises(AssertionError, match="must not be hashed"):
        identity(plain, registry=reg.root)
    # Touching a file (its mtime and ctime move) is enough to have it read again.
    os.utime(out / "model.bin")
    with pytest.raises(AssertionError, match="must not be hashed"):
        identity(out, registry=reg.root)


def test_identity_of_an_exported_directory_finds_the_version_by_its_files(
    reg: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(reg, tmp_path)
    register(reg, tmp_path, files=["vocab.txt"])
    out = tmp_path / "out"
    reg.export(reg.resolve("churn@2"), out)
    assert identity(out, registry=reg.root).version == 2
    monkeypatch.setenv("MODELREG_REGISTRY", str(reg.root))
    assert identity(str(out)).name == "churn"
    plain = tmp_path / "plain"
    shutil.copytree(out, plain)
    # The destination written here changed: the version written there is named, and the file.
    (out / "vocab.txt").write_text("tampered")
    with pytest.raises(IntegrityError, match=r"differs from churn@2: vocab\.txt: content differs"):
        identity(out)
    # A copy made by other means whose files are no version's: an integrity error all the same.
    (plain / "vocab.txt").write_text("tampered")
    with pytest.raises(IntegrityError, match="does not hold the files of any version"):
        identity(plain)


def test_a_modified_served_copy_raises_an_integrity_error_naming_the_file(reg: Registry, tmp_path: Path) -> None:
    register_dir(reg, tmp_path, {"model.bin": "weights", "weights/layer1.bin": "layer one"})
    path = served(reg, "churn@1")
    target = path / "weights" / "layer1.bin"
    os.chmod(target, 0o644)
    target.write_text(target.read_text().upper())
    with pytest.raises(IntegrityError, match=r"weights/layer1\.bin: content differs"):
        identity(path)
    # A file planted beside the version's is a difference too.
    fresh = served(reg, "churn@1")  # rebuilt from the store
    assert identity(fresh).version == 1
    (fresh / "extra.py").write_text("print('hi')")
    with pytest.raises(IntegrityError, match=r"extra\.py: not a file of churn@1"):
        identity(fresh)


def test_a_copied_stamp_does_not_vouch_for_another_directory(reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path)
    path = served(reg, "churn@1")
    clone = tmp_path / "versions" / path.name
    clone.parent.mkdir()
    shutil.copytree(path, clone)
    shutil.copy(str(path) + ".stamp", str(clone) + ".stamp")
    model = clone / "model.bin"
    os.chmod(model, 0o644)
    model.write_bytes(bytes(b ^ 1 for b in model.read_bytes()))  # same size, other bytes
    with pytest.raises(IntegrityError, match=r"model\.bin"):
        identity(clone, registry=reg.root)


def test_identity_refuses_what_is_not_a_directory(reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path)
    with pytest.raises(UsageError):
        identity(tmp_path / "missing", registry=reg.root)


def test_deploy_check_passes_on_the_deployed_copy_and_exits_5_naming_the_drift(
    cli: Any, run: Any, reg: Registry, tmp_path: Path
) -> None:
    register_dir(reg, tmp_path, {"model.bin": "one", "conf/settings.json": '{"threshold": 0.5}'})
    register_dir(reg, tmp_path, {"model.bin": "two", "conf/settings.json": '{"threshold": 0.25}'})
    ok(cli("deploy", "churn@2", "--env", "prod-eu", "-R", reg.root))
    path = served(reg, "churn@2")
    data = ok(cli("deploy-check", "churn", "--env", "prod-eu", "--path", path, "--json", "-R", reg.root))
    assert data["ok"] is True and data["version"] == 2 and data["digest"] == reg.resolve("churn@2").digest
    # The copy of another version is not what prod-eu is recorded to serve.
    old = served(reg, "churn@1")
    proc = run("deploy-check", "churn", "--env", "prod-eu", "--path", old, "-R", reg.root)
    assert proc.returncode == 5 and "content differs" in proc.stderr
    # A modified file of the right version: exit 5, naming it, in a real process.
    settings = path / "conf" / "settings.json"
    os.chmod(settings, 0o644)
    settings.write_text('{"threshold": 0.1}')
    proc = run("deploy-check", "churn", "--env", "prod-eu", "--path", path, "--json", "-R", reg.root)
    assert proc.returncode == 5
    assert "conf/settings.json" in proc.stderr
    error = json.loads(proc.stderr.splitlines()[-1])["error"]
    assert error["code"] == "drift" and error["differences"] == [
        "conf/settings.json: content differs from the version's (size)"
    ]
    # A deleted file is named as missing.
    settings.unlink()
    result = cli("deploy-check", "churn", "--env", "prod-eu", "--path", path, "--json", "-R", reg.root)
    assert "conf/settings.json: missing" in refused(result, 5)
    assert json_error(result)["differences"] == ["conf/settings.json: missing"]
    # A destination written with --output passes, and fails once a file is edited.
    out = tmp_path / "srv"
    ok(cli("get", "churn@2", "--output", out, "-R", reg.root))
    ok(cli("deploy-check", "churn", "--env", "prod-eu", "--path", out, "-R", reg.root))
    (out / "model.bin").write_text("two!")
    assert "model.bin: content differs" in refused(
        cli("deploy-check", "churn", "--env", "prod-eu", "--path", out, "-R", reg.root), 5
    )
    # Nothing deployed there: not found.
    assert "not deployed" in refused(
        cli("deploy-check", "churn", "--env", "prod-us", "--path", path, "-R", reg.root), 3
    )


def test_prediction_ids_sort_by_time_and_carry_the_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelreg.records import prediction_ids

    monkeypatch.setattr(prediction_ids, "_last", [-1, 0])  # this test's clock games stay in this test
    digest = "sha256:" + "ab" * 32
    base = time.time_ns() + 1_000_000_000_000  # a quarter of an hour ahead of the clock
    ids = [prediction_id(Identity("m", 1, digest, "/x"))]
    ids += [prediction_id(digest) for _ in range(50)]  # many in one microsecond keep their order
    mint = prediction_ids.mint
    later = [mint(digest, now_ns=base + k * 1_000_000) for k in range(5)]
    assert sorted(later) == later
    assert sorted(ids) == ids and len(set(ids)) == len(ids)
    for pid in ids + later:
        parsed = parse(pid)
        assert parsed.digest_prefix == "ab" * 8 and len(parsed.digest_prefix) >= 12
        assert str(parsed) == pid and len(pid) == 40
    moment = datetime.fromtimestamp(base // 1_000_000_000, UTC).replace(microsecond=base // 1000 % 1_000_000)
    assert parse(later[0]).time == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # A clock that steps back never makes an id sort before one minted earlier here.
    stepped = mint(digest, now_ns=base - 60_000_000_000)
    assert stepped > later[-1]


@given(
    micros=st.integers(0, 16**14 - 1),
    digest=st.text("0123456789abcdef", min_size=12, max_size=64),
    tail=st.integers(0, 2**32 - 1),
)
def test_a_prediction_id_reads_back_as_written(micros: int, digest: str, tail: int) -> None:
    text = f"{micros:014x}-{tail:08x}-{digest}"
    parsed = parse(text)
    assert (parsed.micros, parsed.digest_prefix, parsed.tail) == (micros, digest, tail)
    assert str(parsed) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "xyz",
        "066102d16a67c1-3e0b12a-9f86d081884c",
        "066102D16A67C1-3e0b12aa-9f86d081884c7d65",
        "066102d16a67c1-3e0b12aa-9f86d08188",
        "0194a3f2c1d0-3e0b12aa-9f86d081884c7d65",
    ],
)
def test_a_malformed_prediction_id_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="invalid prediction id"):
        parse(text)
