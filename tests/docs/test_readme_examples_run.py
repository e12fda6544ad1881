"""The tour and the Python snippet of the README run as written, against a fresh directory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _block(language: str, starting: str) -> str:
    found = [b for b in re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL) if b.startswith(starting)]
    assert len(found) == 1, f"one {language} block starting with {starting!r}"
    return found[0]


def test_the_tour_runs_line_by_line(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(b"a trained model")
    outputs = []
    for line in _block("sh", "modelreg init").splitlines():
        command = line.split("  #", 1)[0].strip()
        # python -m modelreg: the code under test, wherever a console script may point.
        proc = subprocess.run(
            ["bash", "-c", f'modelreg() {{ "{sys.executable}" -m modelreg "$@"; }}; {command}'],
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, (command, proc.stderr)
        outputs.append(proc.stdout)
    served = Path(outputs[4].strip())
    assert (served / "model.pkl").read_bytes() == b"a trained model"
    production = json.loads(outputs[5])
    assert (production["version"], production["stage"]) == (2, "production")
    assert production["lineage"]["datasets"] == ["data/leads.parquet"]


def test_the_python_snippet_runs(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(b"weights")
    assert subprocess.run([sys.executable, "-m", "modelreg", "init"], cwd=tmp_path, env=_env()).returncode == 0
    snippet = _block("python", "from modelreg import Registry")
    check = "\nprint(prod.version, prod.stage, (files_dir / 'model.pkl').read_bytes().decode())\n"
    proc = subprocess.run(
        [sys.executable, "-c", snippet + check], cwd=tmp_path, env=_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "production", "weights"]


def _modelreg(*args: str, cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run([sys.executable, "-m", "modelreg", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout


def test_the_tour_further_on_runs_line_by_line(tmp_path: Path) -> None:
    # The project of the README: ./registry found through pyproject.toml, a directory as the
    # remote store and its published copy standing in for the bucket.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    project, remote = tmp_path / "project", tmp_path / "bucket"
    project.mkdir()
    remote.mkdir()
    env = _env()
    env["MODELREG_REMOTE"] = str(remote)
    _modelreg("init", "registry", cwd=project, env=env)
    (project / "pyproject.toml").write_text('[tool.modelreg]\nregistry = "registry"\n')
    (project / "out").mkdir()
    for n in range(1, 8):
        (project / "out" / "model.bin").write_bytes(f"churn weights {n}".encode())
        _modelreg("register", "churn", "model.bin", "-q", cwd=project / "out", env=env)  # found from below
    _modelreg("promote", "churn@7", "production", "-q", cwd=project, env=env)
    key = ec.generate_private_key(ec.SECP256R1())
    (project / "signing.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    _modelreg("get-production", "churn", "--output", str(tmp_path / "served"), "-q", cwd=project, env=env)
    stamp = (
        "import sys; from modelreg.serving import identity, prediction_id;"
        "print(prediction_id(identity(sys.argv[1], registry=sys.argv[2])))"
    )

    outputs = []
    for line in _block("sh", "modelreg push").splitlines():
        command = line.split("  #", 1)[0].strip().replace("s3://bucket/prefix", str(remote))
        if "$PREDICTION_ID" in command:  # the deployed server answered a request meanwhile
            served_by = [str(tmp_path / "served"), str(project / "registry")]
            minted = subprocess.run([sys.executable, "-c", stamp, *served_by], env=env, capture_output=True, text=True)
            assert minted.returncode == 0, minted.stderr
            env["PREDICTION_ID"] = minted.stdout.strip()
        proc = subprocess.run(
            ["bash", "-c", f'modelreg() {{ "{sys.executable}" -m modelreg "$@"; }}; {command}'],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, (command, proc.stderr)
        outputs.append(proc.stdout)
    served = Path(outputs[1].strip())
    assert (served / "model.bin").read_bytes() == b"churn weights 7"
    assert "churn@7" in outputs[3] and "prod-eu" in outputs[3]
    signed = json.loads(_modelreg("show", "churn@7", "--json", cwd=project, env=env))
    assert [d["env"] for d in signed["deployed"]] == ["prod-eu"]
    assert (project / "registry" / "models" / "churn" / "signatures" / "7.yaml").is_file()
