"""Safe model files through the command line: formats and imports recorded at register, safety
judged against the allowlist in force, the safe-files gate, and a warning when an unsafe file
is handed out. Nothing is ever unpickled: the malicious files would leave a marker if run."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import yaml
from support.governance import add_policy, refused
from support.results import ok_doc as ok

CUSTOM = b"\x80\x04\x8c\x0bmypkg.model\x8c\x03Net\x93)\x81."


def _evil(tmp_path: Path) -> bytes:
    return b"cos\nsystem\n(S'touch " + str(tmp_path / "EXECUTED").encode() + b"'\ntR."


def _model_dir(tmp_path: Path) -> Path:
    src = tmp_path / "model"
    src.mkdir()
    (src / "weights.bin").write_bytes(_evil(tmp_path))  # a protocol-0 pickle under a .bin name
    (src / "arrays.pkl").write_bytes(pickle.dumps({"a": [1, 2.5, "x"], "b": (1, 2)}, protocol=2))
    (src / "config.json").write_text('{"layers": 2}')
    return src


def _files(data: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {f["path"]: f for f in data["files"]}


def test_register_records_formats_and_show_judges_safety(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = _model_dir(tmp_path)
    files = _files(ok(cli("-R", reg_path, "register", "churn", src, "--json")))
    assert files["weights.bin"]["format"] == "pickle"
    assert files["weights.bin"]["imports"] == ["os.system"]
    assert files["weights.bin"]["safety"] == "unsafe"
    assert files["weights.bin"]["unsafe_imports"] == ["os.system"]
    assert (files["arrays.pkl"]["format"], files["arrays.pkl"]["safety"]) == ("pickle", "safe")
    assert (files["config.json"]["format"], files["config.json"]["safety"]) == ("data", "safe")
    shown = _files(ok(cli("-R", reg_path, "show", "churn@1", "--json")))
    assert shown["weights.bin"]["safety"] == "unsafe"
    human = ok(cli("-R", reg_path, "show", "churn@1"))
    assert "unsafe: os.system" in human
    manifest = yaml.safe_load((reg_path / "models/churn/versions/1.yaml").read_text())
    entry = next(f for f in manifest["files"] if f["path"] == "weights.bin")
    assert entry["format"] == "pickle" and entry["imports"] == ["os.system"]
    assert not (tmp_path / "EXECUTED").exists()


def test_handing_out_an_unsafe_file_warns(cli, run, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ok(cli("-R", reg_path, "register", "churn", _model_dir(tmp_path)))
    for args in (["get", "churn", "--output", tmp_path / "out"], ["export", "churn", tmp_path / "exp"],
                 ["get", "churn", "--path"]):  # fmt: skip
        done = run("-R", reg_path, *args)
        assert done.returncode == 0, done.stderr
        assert "weights.bin is unsafe to load" in done.stderr and "os.system" in done.stderr
    safe = tmp_path / "safe"
    safe.mkdir()
    (safe / "m.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    ok(cli("-R", reg_path, "register", "clean", safe))
    done = run("-R", reg_path, "get", "clean", "--output", tmp_path / "out2")
    assert done.returncode == 0 and "unsafe" not in done.stderr
    assert not (tmp_path / "EXECUTED").exists()


def test_safe_files_gate_and_the_allowlist_in_force(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    add_policy(reg_path, '[gates.production]\nrequire = ["safe-files"]')
    src = tmp_path / "custom"
    src.mkdir()
    (src / "net.pkl").write_bytes(CUSTOM)
    ok(cli("-R", reg_path, "register", "net", src))
    line = refused(cli("-R", reg_path, "promote", "net@1", "production"))
    assert "safe-files" in line and "net.pkl is unsafe" in line and "mypkg.model.Net" in line
    check = cli("-R", reg_path, "check", "net@1", "production", "--json")
    assert check.exit_code == 4
    assert json.loads(check.stdout)["checks"][0]["rule"] == "safe-files"
    # The judgment uses the allowlist in force when asked: allowing the class passes the same version.
    add_policy(reg_path, '[safety]\nallow = ["mypkg.model.Net"]')
    assert _files(ok(cli("-R", reg_path, "show", "net@1", "--json")))["net.pkl"]["safety"] == "safe"
    ok(cli("-R", reg_path, "promote", "net@1", "production"))


def test_a_pickle_that_cannot_be_read_to_the_end_is_unknown_and_fails_the_gate(
    cli, reg_path: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    add_policy(reg_path, '[gates.staging]\nrequire = ["safe-files"]')
    src = tmp_path / "cut"
    src.mkdir()
    (src / "m.pkl").write_bytes(pickle.dumps({"k": list(range(50))}, protocol=4)[:-5])
    data = _files(ok(cli("-R", reg_path, "register", "cut", src, "--json")))
    assert data["m.pkl"]["safety"] == "unknown" and data["m.pkl"]["unreadable"]
    assert "m.pkl is unknown" in refused(cli("-R", reg_path, "promote", "cut@1", "staging"))


def test_unknown_allow_entries_and_keys_are_refused(cli, reg_path: Path) -> None:  # type: ignore[no-untyped-def]
    add_policy(reg_path, '[safety]\nallow = ["not a name"]')
    assert "safety.allow" in refused(cli("-R", reg_path, "list"), 2)


def test_an_old_manifest_without_facts_still_reads_and_verifies(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "m"
    src.mkdir()
    (src / "m.pkl").write_bytes(pickle.dumps([1]))
    ok(cli("-R", reg_path, "register", "old", src))
    path = reg_path / "models/old/versions/1.yaml"
    manifest = yaml.safe_load(path.read_text())
    for entry in manifest["files"]:
        for key in ("format", "imports", "unreadable", "compression"):
            entry.pop(key, None)
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    shown = _files(ok(cli("-R", reg_path, "show", "old@1", "--json")))
    assert shown["m.pkl"]["safety"] == "unknown"
    assert "format" not in shown["m.pkl"] or shown["m.pkl"]["format"] is None


def test_verify_catches_a_manifest_edited_to_look_safe(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ok(cli("-R", reg_path, "register", "churn", _model_dir(tmp_path)))
    ok(cli("-R", reg_path, "verify"))
    path = reg_path / "models/churn/versions/1.yaml"
    manifest = yaml.safe_load(path.read_text())
    for entry in manifest["files"]:
        if entry["path"] == "weights.bin":
            entry["imports"] = ["builtins.set"]
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    result = cli("-R", reg_path, "verify", "--json")
    assert result.exit_code == 5
    assert "formats and imports of churn@1 differ" in result.stdout


@pytest.mark.parametrize("name", ["model.pt", "model.bin", "weights"])
def test_a_pytorch_style_zip_with_a_malicious_pickle_is_unsafe_whatever_its_name(
    cli, reg_path: Path, tmp_path: Path, name: str
) -> None:  # type: ignore[no-untyped-def]
    import zipfile

    src = tmp_path / "zip"
    src.mkdir()
    with zipfile.ZipFile(src / name, "w") as zf:
        zf.writestr("archive/data.pkl", _evil(tmp_path))
        zf.writestr("archive/data/0", b"\x00" * 16)
    files = _files(ok(cli("-R", reg_path, "register", "torchy", src, "--json")))
    assert (files[name]["format"], files[name]["safety"]) == ("pytorch", "unsafe")
    assert not (tmp_path / "EXECUTED").exists()
