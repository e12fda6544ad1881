"""Real MLflow model registries for the import tests, built with MLflow's own API.

``build(base, backend)`` fills a store (``sqlite``: ``base/mlflow.db``; ``file``: ``base/mlruns``;
``server``: the running server at ``tracking_uri``) and returns the facts an import must carry
over, as this builder wrote them (never read back through the importer's path):

- ``churn`` (4 versions): files logged to the run under ``model/`` and registered from
  ``runs:/RUN/model``, through ``mlflow.register_model`` (versions 1, 3: a ``file://`` source)
  and ``MlflowClient.create_model_version`` (2, 4: a ``runs:/`` source); the runs also hold
  files outside ``model/`` that the versions do not. Stages Archived, Production, Staging,
  None; aliases champion -> 2, challenger -> 3; descriptions, tags, model tags.
- ``fraud-detector`` (3): MLflow 3 logged models (``models:/m-...`` sources); Production,
  Staging, None; version 3's artifacts are deleted from disk after registration, and the alias
  ``canary`` names it.
- ``ranker`` (2): ``mlflow.pyfunc.log_model`` (a real flavor) where numpy is installed, else
  logged models; both in Production (MLflow allows it); version 1's run deleted (soft).
- ``Credit Risk`` (1): a name modelreg must normalise (``credit-risk``); aliases ``production``
  (a stage name here), ``Champion`` (uppercase) and ``7`` (a number); a metric and a param
  whose keys hold spaces, a NaN metric, and a version tag in MLflow's own ``mlflow.`` space.

Each version's files: an ``MLmodel``, a binary file with NUL and 0xff bytes, files two
directories deep, a name with a space and an empty file.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

# Offline and quiet, whatever the caller's environment says.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"
os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

MLMODEL = "artifact_path: model\nflavors:\n  python_function:\n    loader_module: fixture\nmodel_uuid: {seed:032x}\n"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def files_of(root: Path) -> dict[str, str]:
    """``{relative path: sha256:...}`` of every file under root."""
    return {p.relative_to(root).as_posix(): digest_of(p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


def write_model(root: Path, seed: int, *, mlmodel: bool = True) -> dict[str, str]:
    rnd = random.Random(seed)
    root.mkdir(parents=True)
    if mlmodel:
        (root / "MLmodel").write_text(MLMODEL.format(seed=seed))
    (root / "weights.bin").write_bytes(bytes([0, 255, 0, 10, 13, 255]) + rnd.randbytes(3000 + seed))
    (root / "config" / "nested").mkdir(parents=True)
    (root / "config" / "params.json").write_text(json.dumps({"seed": seed, "layers": [64, 32]}) + "\n")
    (root / "config" / "nested" / "labels.txt").write_text("stay\nchurn\n")
    (root / "model card.md").write_text(f"# built with seed {seed}\n")
    (root / "empty.txt").write_bytes(b"")
    return files_of(root)


def local_dir(uri: str, server_artifacts: Path | None) -> Path:
    """The directory behind an artifact URI (``mlflow-artifacts:/`` under the server's root)."""
    parsed = urlparse(uri)
    if parsed.scheme == "mlflow-artifacts":
        assert server_artifacts is not None
        return server_artifacts / unquote(parsed.path).lstrip("/")
    assert parsed.scheme in ("file", ""), uri
    return Path(unquote(parsed.path))


class Builder:
    def __init__(self, uri: str, work: Path, server_artifacts: Path | None = None) -> None:
        import mlflow
        from mlflow import MlflowClient

        self.mlflow = mlflow
        self.uri = uri
        self.work = work
        self.server_artifacts = server_artifacts
        mlflow.set_tracking_uri(uri)  # the fluent calls (register_model, log_model) use the global URI
        mlflow.set_registry_uri(uri)
        self.client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def experiment(self, artifact_root: Path | None) -> str:
        location = artifact_root.as_uri() if artifact_root else None  # a server proxies its own
        return str(self.client.create_experiment(f"fixture-{time.time_ns()}", artifact_location=location))

    def run(
        self, experiment: str, name: str, seed: int, params: dict[str, Any], auc: float, user: str
    ) -> tuple[str, dict]:
        """A run with params, metrics (one logged at several steps out of order, one twice at a
        step) and tags; returns its id and the latest value of each metric as MLflow defines it."""
        from mlflow.entities import Metric, Param, RunTag

        run_id = self.client.create_run(
            experiment, run_name=name, tags={"mlflow.user": user, "purpose": "fixture"}
        ).info.run_id
        now = int(time.time() * 1000)
        metrics = [Metric("auc", auc, now, 0)]
        losses = {step: round(1.0 / (step + 1) + seed / 100, 6) for step in (0, 2, 1, 4, 3)}
        metrics += [Metric("loss", value, now + step, step) for step, value in losses.items()]
        metrics += [Metric("accuracy", 0.5, now, 0), Metric("accuracy", 0.75 + seed / 1000, now + 10, 0)]
        self.client.log_batch(
            run_id,
            metrics=metrics,
            params=[Param(k, str(v)) for k, v in params.items()],
            tags=[RunTag("note", f"seed {seed}")],
        )
        # The value at the largest step; at one step, the latest logged.
        return run_id, {"auc": auc, "loss": losses[4], "accuracy": 0.75 + seed / 1000}

    def version_facts(self, name: str, number: int, **facts: Any) -> dict[str, Any]:
        mv = self.client.get_model_version(name, str(number))
        return {
            "version": number,
            "run_id": mv.run_id,
            "source": mv.source,
            "created_ms": mv.creation_timestamp,
            **facts,
        }


@contextmanager
def _restored() -> Iterator[None]:
    """MLflow's set_tracking_uri also sets $MLFLOW_TRACKING_URI: leave the process as it was (and
    keep MLflow's deprecation warnings out of the test report)."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_ALLOW_FILE_STORE")
    env = {k: os.environ.get(k) for k in names}
    uris = tracking_utils._tracking_uri, registry_utils._registry_uri
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated in MLflow 3
            warnings.simplefilter("ignore", DeprecationWarning)  # SQLAlchemy's, about MLflow's mappers
            yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = uris
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def build(
    base: Path, backend: str = "sqlite", tracking_uri: str | None = None, server_artifacts: Path | None = None
) -> dict[str, Any]:
    with _restored():
        return _build(base, backend, tracking_uri, server_artifacts)


def _build(base: Path, backend: str, tracking_uri: str | None, server_artifacts: Path | None) -> dict[str, Any]:
    base = base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        tracking_uri = f"sqlite:///{base / 'mlflow.db'}"
    elif backend == "file":
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        tracking_uri = (base / "mlruns").as_uri()
    assert tracking_uri
    work = Path(tempfile.mkdtemp(prefix="mlflow-fixture-", dir=base))
    b = Builder(tracking_uri, work, server_artifacts)
    c = b.client
    exp = b.experiment(None if backend == "server" else base / "artifacts")
    models: dict[str, dict[str, Any]] = {}

    # churn: run artifacts registered from runs:/
    c.create_registered_model(
        "churn",
        tags={"team": "growth", "task": "classification"},
        description="Predicts which customers leave next month.",
    )
    churn = []
    for v in range(1, 5):
        params = {"C": round(0.1 * v, 2), "penalty": "l2", "max_iter": 100 * v}
        run_id, metrics = b.run(exp, f"churn-{v}", v, params, round(0.8 + v / 100, 4), "ada")
        files = write_model(work / f"churn-{v}", v)
        c.log_artifacts(run_id, str(work / f"churn-{v}"), artifact_path="model")
        (work / f"churn-{v}-plots").mkdir()
        (work / f"churn-{v}-plots" / "roc.csv").write_text("fpr,tpr\n0,0\n1,1\n")
        c.log_artifacts(run_id, str(work / f"churn-{v}-plots"), artifact_path="plots")  # not the version's
        c.set_terminated(run_id)
        if v in (1, 3):
            b.mlflow.register_model(f"runs:/{run_id}/model", "churn", tags={"data": f"2026-0{v}"})
        else:
            c.create_model_version("churn", f"runs:/{run_id}/model", run_id=run_id, tags={"data": f"2026-0{v}"})
        churn.append(
            dict(
                metrics=metrics,
                params={k: str(x) for k, x in params.items()},
                files=files,
                tags={"data": f"2026-0{v}"},
                description="",
                creator="ada",
                run_deleted=False,
            )
        )
    c.update_model_version("churn", "1", description="First baseline.")
    c.update_model_version("churn", "2", description="Tuned C.")
    c.set_model_version_tag("churn", "2", "validated", "true")
    churn[0]["description"], churn[1]["description"] = "First baseline.", "Tuned C."
    churn[1]["tags"]["validated"] = "true"
    for v, stage in ((1, "Archived"), (2, "Production"), (3, "Staging")):
        c.transition_model_version_stage("churn", str(v), stage)
    c.set_registered_model_alias("churn", "champion", "2")
    c.set_registered_model_alias("churn", "challenger", "3")
    models["churn"] = {
        "description": "Predicts which customers leave next month.",
        "tags": {"team": "growth", "task": "classification"},
        "aliases": {"champion": 2, "challenger": 3},
        "versions": [
            b.version_facts("churn", v, stage=s, **churn[v - 1])
            for v, s in zip(range(1, 5), ("Archived", "Production", "Staging", "None"), strict=True)
        ],
    }

    # fraud-detector: MLflow 3 logged models
    c.create_registered_model("fraud-detector", description="Flags card transactions.")
    c.set_registered_model_tag("fraud-detector", "team", "risk")
    fraud = []
    for v in range(1, 4):
        run_id, metrics = b.run(
            exp, f"fraud-{v}", 10 + v, {"depth": 4 + v, "lr": 0.05}, round(0.9 + v / 100, 4), "grace"
        )
        lm = c.create_logged_model(exp, name="model", source_run_id=run_id)
        files = write_model(work / f"fraud-{v}", 10 + v)
        c.log_model_artifacts(lm.model_id, str(work / f"fraud-{v}"))
        c.finalize_logged_model(lm.model_id, "READY")
        c.set_terminated(run_id)
        c.create_model_version("fraud-detector", f"models:/{lm.model_id}", run_id=run_id, model_id=lm.model_id)
        fraud.append(
            dict(
                metrics=metrics,
                params={"depth": str(4 + v), "lr": "0.05"},
                files=files,
                tags={},
                description="",
                creator="grace",
                run_deleted=False,
                model_id=lm.model_id,
            )
        )
    c.update_model_version("fraud-detector", "2", description="Retrained on Q3 data.")
    fraud[1]["description"] = "Retrained on Q3 data."
    c.transition_model_version_stage("fraud-detector", "1", "Production")
    c.transition_model_version_stage("fraud-detector", "2", "Staging")
    for alias, v in (("champion", 1), ("challenger", 2), ("canary", 3)):
        c.set_registered_model_alias("fraud-detector", alias, str(v))
    models["fraud-detector"] = {
        "description": "Flags card transactions.",
        "tags": {"team": "risk"},
        "aliases": {"champion": 1, "challenger": 2, "canary": 3},
        "versions": [
            b.version_facts("fraud-detector", v, stage=s, **fraud[v - 1])
            for v, s in zip((1, 2, 3), ("Production", "Staging", "None"), strict=True)
        ],
    }
    models["fraud-detector"]["versions"][2]["artifacts_missing"] = True

    # ranker: a real flavor where numpy is there; both versions in Production
    try:
        import mlflow.pyfunc  # noqa: F401  (needs numpy)

        pyfunc = True
    except ImportError:
        pyfunc = False
    c.create_registered_model("ranker", tags={"team": "search"})
    ranker = []
    for v in (1, 2):
        run_id, metrics = b.run(exp, f"ranker-{v}", 20 + v, {"k": 10 * v}, round(0.7 + v / 100, 4), "linus")
        data = work / f"ranker-{v}" / "data"
        write_model(data, 20 + v, mlmodel=False)
        if pyfunc:
            model_id = _log_pyfunc(b.mlflow, run_id, data)
        else:
            lm = c.create_logged_model(exp, name="model", source_run_id=run_id)
            c.log_model_artifacts(lm.model_id, str(data))
            c.finalize_logged_model(lm.model_id, "READY")
            c.set_terminated(run_id)
            model_id = lm.model_id
        b.mlflow.register_model(f"models:/{model_id}", "ranker")
        # The version holds the logged model's files exactly: read them where MLflow put them.
        files = files_of(local_dir(c.get_logged_model(model_id).artifact_location, server_artifacts))
        ranker.append(
            dict(
                metrics=metrics,
                params={"k": str(10 * v)},
                files=files,
                tags={},
                description="",
                creator="linus",
                run_deleted=v == 1,
                model_id=model_id,
            )
        )
    c.transition_model_version_stage("ranker", "1", "Production")
    c.transition_model_version_stage("ranker", "2", "Production")
    c.delete_run(c.get_model_version("ranker", "1").run_id)
    models["ranker"] = {
        "description": "",
        "tags": {"team": "search"},
        "aliases": {},
        "pyfunc": pyfunc,
        "versions": [b.version_facts("ranker", v, stage="Production", **ranker[v - 1]) for v in (1, 2)],
    }

    # Credit Risk: names modelreg has to normalise or refuse
    from mlflow.entities import Metric, Param

    c.create_registered_model("Credit Risk", description="Scores loan applications.")
    run_id, metrics = b.run(exp, "credit-1", 31, {"max depth": 6}, 0.88, "ada")
    c.log_batch(
        run_id,
        metrics=[
            Metric("val loss", 0.125, int(time.time() * 1000), 0),
            Metric("broken", float("nan"), int(time.time() * 1000), 0),
        ],
        params=[Param("learning rate", "0.3")],
    )
    files = write_model(work / "credit-1", 31)
    c.log_artifacts(run_id, str(work / "credit-1"), artifact_path="model")
    c.set_terminated(run_id)
    c.create_model_version(
        "Credit Risk",
        f"runs:/{run_id}/model",
        run_id=run_id,
        tags={"mlflow.internal": "bookkeeping", "owner": "risk-team"},
    )
    for alias in ("production", "Champion", "7"):
        c.set_registered_model_alias("Credit Risk", alias, "1")
    models["Credit Risk"] = {
        "description": "Scores loan applications.",
        "tags": {},
        "aliases": {"production": 1, "Champion": 1, "7": 1},
        "versions": [
            b.version_facts(
                "Credit Risk",
                1,
                stage="None",
                files=files,
                description="",
                creator="ada",
                run_deleted=False,
                tags={"owner": "risk-team"},
                metrics={**metrics, "val_loss": 0.125},
                params={"max_depth": "6", "learning_rate": "0.3"},
            )
        ],
    }

    lost = c.get_model_version_download_uri("fraud-detector", "3")
    shutil.rmtree(local_dir(lost, server_artifacts))
    shutil.rmtree(work)
    return {"tracking_uri": tracking_uri, "backend": backend, "experiment_id": exp, "models": models}


def _log_pyfunc(mlflow: Any, run_id: str, data: Path) -> str:
    import mlflow.pyfunc

    class Ranker(mlflow.pyfunc.PythonModel):  # type: ignore[misc, name-defined]
        def predict(self, context: Any, model_input: list[str], params: Any = None) -> list[str]:
            return model_input

    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="model", python_model=Ranker(), artifacts={"data": str(data)}, pip_requirements=["mlflow"]
        )  # no requirement inference (a subprocess)
    return str(info.model_id)


def add_version(tracking_uri: str, experiment_id: str, name: str, seed: int, work: Path) -> dict[str, Any]:
    """One more version of ``name`` from a new run (``runs:/`` source); returns its facts."""
    with _restored():
        return _add_version(tracking_uri, experiment_id, name, seed, work)


def _add_version(tracking_uri: str, experiment_id: str, name: str, seed: int, work: Path) -> dict[str, Any]:
    b = Builder(tracking_uri, work)
    run_id, metrics = b.run(experiment_id, f"{name}-{seed}", seed, {"C": seed}, 0.5, "ada")
    src = work / f"{name}-{seed}"
    files = write_model(src, seed)
    b.client.log_artifacts(run_id, str(src), artifact_path="model")
    b.client.set_terminated(run_id)
    mv = b.client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id)
    shutil.rmtree(src)
    return b.version_facts(
        name,
        int(mv.version),
        stage="None",
        files=files,
        metrics=metrics,
        params={"C": str(seed)},
        tags={},
        description="",
        creator="ada",
        run_deleted=False,
    )


_SESSION: dict[str, dict[str, Any]] = {}


def session_store(tmp_path_factory: Any) -> dict[str, Any]:
    """The session's sqlite store, built once whichever test module asks first; only read."""
    if "sqlite" not in _SESSION:
        base = tmp_path_factory.mktemp("mlflow-sqlite")
        facts = build(base, "sqlite")
        facts["db"] = base / "mlflow.db"
        _SESSION["sqlite"] = facts
    return _SESSION["sqlite"]
