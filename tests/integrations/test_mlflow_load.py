"""MLflow code unchanged on a modelreg registry: `log_model(registered_model_name=...)` and
`mlflow.register_model("runs:/...")` make versions with the run's metrics, params and MLflow ids;
`mlflow.pyfunc.load_model("models:/...")` loads them by alias, stage and number, every byte
checked; the registry's rules, approvals and hooks hold for changes made through MLflow.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow extra is not installed (pip install -e '.[test]')")

import mlflow
import mlflow.pyfunc
from conftest import AUTHOR
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from support.governance import add_policy
from support.mlflow_stores import files_of

from modelreg import Registry

Cli = Callable[..., Any]


class Doubler(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """A real pyfunc model: its predictions say which version answered."""

    def __init__(self, factor: int) -> None:
        self.factor = factor

    def predict(self, context: Any, model_input: Any, params: Any = None) -> list[int]:
        return [int(x) * self.factor for x in model_input]


def cli_json(cli: Cli, reg: Path, *args: Any) -> Any:
    result = cli(*args, "-R", reg, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A sqlite tracking store and a modelreg registry set as MLflow's registry; two versions of
    ``churn``: 1 from ``log_model(registered_model_name=...)`` (an MLflow 3 logged model), 2 from
    ``register_model("runs:/RUN/model")`` of files logged to the run."""
    base = tmp_path_factory.mktemp("mlflow-load")
    reg = base / "reg"
    Registry.init(reg)
    os.environ["MODELREG_AUTHOR"] = AUTHOR
    mlflow.set_tracking_uri(f"sqlite:///{base / 'mlflow.db'}")
    mlflow.set_registry_uri(f"modelreg://{reg}")
    try:
        # The run's files under this fixture's directory (a sqlite store's default is ./mlruns).
        experiment = mlflow.create_experiment("plugin", artifact_location=(base / "artifacts").as_uri())
        runs = []
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_metrics({"auc": 0.91, "val loss": 0.2})
            mlflow.log_params({"C": "0.1", "kernel": "rbf"})
            logged = mlflow.pyfunc.log_model(
                name="model", python_model=Doubler(2), registered_model_name="churn", pip_requirements=["mlflow"]
            )
            runs.append(run.info.run_id)
        saved = base / "saved"
        mlflow.pyfunc.save_model(saved, python_model=Doubler(3), pip_requirements=["mlflow"])
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_metric("auc", 0.95)
            mlflow.log_artifacts(str(saved), "model")
            runs.append(run.info.run_id)
        second = mlflow.register_model(f"runs:/{runs[1]}/model", "churn")
        yield {
            "reg": reg,
            "runs": runs,
            "model_id": logged.model_id,
            "second": second,
            "saved": saved,
            "experiment": experiment,
        }
    finally:
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]
        os.environ.pop("MODELREG_AUTHOR", None)


def test_logged_models_become_versions_with_the_runs_metrics_params_and_ids(world: dict[str, Any], cli: Cli) -> None:
    reg, runs = world["reg"], world["runs"]
    first = cli_json(cli, reg, "show", "churn@1")
    assert first["metrics"] == {"auc": 0.91, "val_loss": 0.2}  # a space is not in a modelreg key
    assert first["params"] == {"C": "0.1", "kernel": "rbf"}
    imported = first["lineage"]["imported"]
    assert imported["from"] == "mlflow" and imported["run_id"] == runs[0]
    assert imported["model_id"] == world["model_id"] and imported["source"] == f"models:/{world['model_id']}"
    assert imported["run"]["experiment_id"] == world["experiment"]
    assert {f["path"] for f in first["files"]} >= {"MLmodel", "python_model.pkl"}
    second = cli_json(cli, reg, "show", "churn@2")
    assert world["second"].version == 2 and second["metrics"] == {"auc": 0.95} and second["params"] == {}
    assert second["lineage"]["imported"]["run_id"] == runs[1]
    assert {f["path"]: f["digest"] for f in second["files"]} == files_of(world["saved"])
    actions = [(e["action"], e["version"], e["reason"]) for e in cli_json(cli, reg, "log", "churn")["entries"]]
    assert ("register", 2, "through MLflow (create_model_version)") in actions


def test_load_by_alias_stage_and_number(world: dict[str, Any], cli: Cli, tmp_path: Path) -> None:
    reg = world["reg"]
    client = MlflowClient()
    client.set_registered_model_alias("churn", "champion", "1")
    client.transition_model_version_stage("churn", "2", "Production")
    assert cli_json(cli, reg, "get-production", "churn")["version"] == 2
    assert mlflow.pyfunc.load_model("models:/churn@champion").predict([1, 2]) == [2, 4]
    assert mlflow.pyfunc.load_model("models:/churn/Production").predict([1, 2]) == [3, 6]
    assert mlflow.pyfunc.load_model("models:/churn/1").predict([5]) == [10]
    assert mlflow.pyfunc.load_model("models:/churn/latest").predict([5]) == [15]
    # A file of the version, alone, and the version's listing.
    one = mlflow.artifacts.download_artifacts("models:/churn/2/MLmodel")
    assert Path(one).read_bytes() == (world["saved"] / "MLmodel").read_bytes()
    listed = {f.path for f in mlflow.artifacts.list_artifacts("models:/churn/2")}
    assert listed == {p for p in files_of(world["saved"]) if "/" not in p}
    # The download URI itself, as MLflow's artifact helpers take any artifact URI.
    uri = client.get_model_version_download_uri("churn", "2")
    got = Path(mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path)))
    assert files_of(got) == files_of(world["saved"])


def test_a_changed_byte_is_never_loaded(world: dict[str, Any], tmp_path: Path) -> None:
    reg = Registry(world["reg"])
    version = reg.resolve("churn@1")
    victim = next(f for f in version.files if f.path == "python_model.pkl")
    blob = next(p for p in (world["reg"] / "blobs").rglob(victim.digest.split(":")[1]))
    original = blob.read_bytes()
    served = reg.materialize(version)
    os.chmod(blob, stat.S_IWUSR | stat.S_IRUSR)
    blob.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    # The served copy goes too, so the bytes must come from the (changed) store.
    for path in sorted(served.rglob("*"), reverse=True):
        path.chmod(0o700)
    try:
        import shutil

        shutil.rmtree(served)
        with pytest.raises(MlflowException) as refused:
            mlflow.pyfunc.load_model("models:/churn/1", dst_path=str(tmp_path))
        assert refused.value.error_code == "DATA_LOSS"
        assert not (tmp_path / "python_model.pkl").exists()
    finally:
        blob.write_bytes(original)
        os.chmod(blob, stat.S_IRUSR)
    assert mlflow.pyfunc.load_model("models:/churn/1").predict([1]) == [2]


def test_a_copy_changed_after_it_was_served_is_refused_on_the_way_out(world: dict[str, Any], tmp_path: Path) -> None:
    from modelreg.integrations.mlflow.artifacts import ModelregArtifactRepository

    repo = ModelregArtifactRepository(MlflowClient().get_model_version_download_uri("churn", "2"))
    served = Registry(world["reg"]).materialize(Registry(world["reg"]).resolve("churn@2"))
    target = served / "MLmodel"
    target.chmod(0o600)
    before = target.read_bytes()
    stamp = target.stat()
    try:
        target.write_bytes(before.replace(b"python_function", b"python_functioX"))
        os.utime(target, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # same size and mtime: only ctime moved
        out = repo.download_artifacts("MLmodel", str(tmp_path))
        assert Path(out).read_bytes() == before  # rebuilt from the store, or refused: never the changed bytes
    finally:
        if target.exists():
            target.chmod(0o600)
            target.write_bytes(before)


def test_a_removed_version_does_not_load(world: dict[str, Any], cli: Cli, tmp_path: Path) -> None:
    client = MlflowClient()
    client.create_registered_model("gone")
    made = client.create_model_version("gone", str(world["saved"]))
    uri = client.get_model_version_download_uri("gone", made.version)
    client.delete_model_version("gone", made.version)
    with pytest.raises(MlflowException) as missing:
        mlflow.pyfunc.load_model("models:/gone/1")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as direct:
        mlflow.artifacts.download_artifacts(uri, dst_path=str(tmp_path))
    assert direct.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert cli_json(cli, world["reg"], "show", "gone@1")["removed"] is not None


# -- governance through MLflow -----------------------------------------------------------------


@pytest.fixture
def governed(reg_path: Path, tmp_path: Path) -> Iterator[tuple[MlflowClient, Path]]:
    saved = tmp_path / "saved"
    mlflow.pyfunc.save_model(saved, python_model=Doubler(2), pip_requirements=["mlflow"])
    hook = tmp_path / "hook.py"
    hook.write_text(
        "import os, pathlib\n"
        f"with pathlib.Path({str(tmp_path / 'hook.txt')!r}).open('a') as out:\n"
        "    out.write(os.environ['MODELREG_EVENT'] + ' ' + os.environ['MODELREG_ACTOR'] + '\\n')\n"
    )
    add_policy(
        reg_path,
        f"""
[stages.transitions]
development = ["staging"]

[gates.production]
metrics = ["auc >= 0.9"]
require = ["tag:owner"]

[gates.staging]
approvals = 1

[hooks]
register = ["{sys.executable} {hook}"]
""",
    )
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=tracking, registry_uri=f"modelreg://{reg_path}")
    client.create_registered_model("churn")
    client.create_model_version("churn", str(saved))
    yield client, reg_path


def test_a_refusal_through_mlflow_names_the_failed_rules(
    governed: tuple[MlflowClient, Path], cli: Cli, tmp_path: Path
) -> None:
    client, reg = governed
    with pytest.raises(MlflowException) as refused:
        client.transition_model_version_stage("churn", "1", "Production")
    message = refused.value.message
    assert refused.value.error_code == "PERMISSION_DENIED"
    assert "transition" in message and "auc >= 0.9" in message and "tag:owner" in message
    with pytest.raises(MlflowException) as needs_approval:
        client.transition_model_version_stage("churn", "1", "Staging")
    assert needs_approval.value.error_code == "PERMISSION_DENIED" and "approv" in needs_approval.value.message
    assert cli(*("check", "churn@1", "production", "-R", reg, "--json")).exit_code == 4
    assert cli_json(cli, reg, "show", "churn@1")["stage"] == "development"
    assert client.get_model_version("churn", "1").current_stage == "None"
    assert not any(e["action"] == "promote" for e in cli_json(cli, reg, "log", "churn")["entries"])


def test_hooks_run_for_changes_made_through_mlflow(
    governed: tuple[MlflowClient, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = governed
    assert not (tmp_path / "hook.txt").exists()  # untrusted: the first register ran no hook
    monkeypatch.setenv("MODELREG_TRUST", "1")
    monkeypatch.setenv("MODELREG_AUTHOR", "ada")
    client.create_model_version("churn", str(tmp_path / "saved"))
    assert (tmp_path / "hook.txt").read_text() == "register ada\n"


def test_import_mlflow_and_the_plugin_agree_on_mlflows_ids(tmp_path: Path, reg_path: Path, cli: Cli) -> None:
    """A version brought in by `modelreg import mlflow` reads back through the plugin with the
    run, source and stage MLflow gave it, as a version the plugin registered does."""
    tracking = f"sqlite:///{tmp_path / 'old.db'}"
    old = MlflowClient(tracking_uri=tracking, registry_uri=tracking)
    saved = tmp_path / "saved"
    mlflow.pyfunc.save_model(saved, python_model=Doubler(4), pip_requirements=["mlflow"])
    run_id = old.create_run(old.get_experiment_by_name("Default").experiment_id).info.run_id
    old.log_metric(run_id, "auc", 0.97)
    old.log_artifacts(run_id, str(saved), "model")
    old.create_registered_model("churn")
    first = old.create_model_version("churn", f"runs:/{run_id}/model", run_id=run_id)
    old.transition_model_version_stage("churn", first.version, "Staging")
    old.set_registered_model_alias("churn", "champion", first.version)
    result = cli("import", "mlflow", "--tracking-uri", tracking, "-R", reg_path, "--json")
    assert result.exit_code == 0, result.stderr

    plugin = MlflowClient(tracking_uri=tracking, registry_uri=f"modelreg://{reg_path}")
    seen = plugin.get_model_version_by_alias("churn", "champion")
    assert (seen.version, seen.run_id, seen.source, seen.current_stage) == (1, run_id, first.source, "Staging")
    made = plugin.create_model_version("churn", f"runs:/{run_id}/model", run_id=run_id)
    ids = [cli_json(cli, reg_path, "show", f"churn@{n}")["lineage"]["imported"] for n in (1, made.version)]
    assert [i["from"] for i in ids] == ["mlflow", "mlflow"] and [i["run_id"] for i in ids] == [run_id, run_id]
    assert ids[0].keys() <= ids[1].keys() | {"run_link"} and ids[1]["run"]["experiment_id"] == "0"
    assert cli_json(cli, reg_path, "show", f"churn@{made.version}")["metrics"] == {"auc": 0.97}


def test_register_model_with_a_file_tracking_store(
    tmp_path: Path, reg_path: Path, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps its file store behind this
    tracking = (tmp_path / "mlruns").as_uri()
    saved = tmp_path / "saved"
    mlflow.pyfunc.save_model(saved, python_model=Doubler(5), pip_requirements=["mlflow"])
    client = MlflowClient(tracking_uri=tracking, registry_uri=f"modelreg://{reg_path}")
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "rmse", 1.5)
    client.log_param(run_id, "depth", "7")
    client.log_artifacts(run_id, str(saved), "model")
    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(tracking)
    mlflow.set_registry_uri(f"modelreg://{reg_path}")
    try:
        version = mlflow.register_model(f"runs:/{run_id}/model", "depth-model")
        assert mlflow.pyfunc.load_model("models:/depth-model/1").predict([2]) == [10]
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])
    shown = cli_json(cli, reg_path, "show", f"depth-model@{version.version}")
    assert shown["metrics"] == {"rmse": 1.5} and shown["params"] == {"depth": "7"}
    assert {f["path"]: f["digest"] for f in shown["files"]} == files_of(saved)
