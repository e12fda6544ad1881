"""What MLflow logged for a new version: its files, its run's metrics and params, and the MLflow
ids kept in ``lineage.imported`` (the shape ``import mlflow`` writes, so both agree)."""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.tracking import MlflowClient

from modelreg.errors import UsageError
from modelreg.records.names import validate_key

_SERVERS = ("http", "https", "databricks", "databricks-uc", "uc")  # tracking stores on another machine
_LOGGED_MODEL = re.compile(r"models:/(m-[0-9a-f]{8,64})/?")
# MLflow's keys may hold spaces and be 250 characters long; other characters become "_", as
# `import mlflow` makes them, so both give a metric the same key.
_NOT_KEY = re.compile(r"[^A-Za-z0-9_.:/-]")


@dataclass
class Logged:
    files: Path
    metrics: dict[str, float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    imported: dict[str, Any] = field(default_factory=dict)
    left_out: list[str] = field(default_factory=list)  # keys that could not be kept


def _rfc3339(ms: Any) -> str | None:
    if not isinstance(ms, int) or isinstance(ms, bool):
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def key(text: str) -> str | None:
    """A metric or param key as modelreg keeps it (records/names.py), or None."""
    fixed = _NOT_KEY.sub("_", text)[:128]
    if not fixed:
        return None
    for candidate in (fixed, ("_" + fixed)[:128]):  # a key starts with a letter, digit or "_"
        try:
            return validate_key(candidate, "metric")
        except UsageError:
            continue
    return None


def _refuse_local_named_by_a_server(client: MlflowClient, where: str, source: str) -> None:
    """A tracking server (another machine, maybe someone else's) does not choose which files of
    this machine go into the registry: a local path it names for a run's or a logged model's
    artifacts is refused. A local source the caller gives itself is its own choice."""
    server = urlsplit(str(client.tracking_uri)).scheme in _SERVERS
    if server and urlsplit(where).scheme in ("", "file"):
        raise MlflowException(
            f"the tracking server {_without_secret(str(client.tracking_uri))} says the files of {source} are at "
            f"{where!r}, a path on this machine; refusing to copy local files a server names (register them "
            "from a path you give, or serve the artifacts through the server: mlflow server --serve-artifacts)",
            error_code=INVALID_PARAMETER_VALUE,
        )


def _pairs(values: dict[str, Any], left_out: list[str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for original in sorted(values, key=lambda k: (key(k) != k, k)):  # a valid key wins its spelling
        value, fixed = values[original], key(original)
        if fixed is None or fixed in out or (isinstance(value, float) and not math.isfinite(value)):
            left_out.append(f"{what} {original!r}")
            continue
        out[fixed] = value
    return out


@contextmanager
def fetch(
    tracking_uri: str | None,
    name: str,
    source: str,
    run_id: str | None,
    model_id: str | None,
    local_model_path: str | None,
    run_link: str | None,
) -> Iterator[Logged]:
    """Download the version's files (or take MLflow's local copy) into a temporary directory
    that is gone afterwards; read its run. MLflow's own errors pass through."""
    import mlflow.artifacts

    client = MlflowClient(tracking_uri=tracking_uri)
    where = source
    match = _LOGGED_MODEL.fullmatch(source)
    model_id = model_id or (match.group(1) if match else None)
    logged_model = None
    if model_id is not None:
        logged_model = client.get_logged_model(model_id)
        run_id = run_id or logged_model.source_run_id
        if match is not None:  # models:/m-...: the files are where the logged model keeps them
            where = str(logged_model.artifact_location)
            _refuse_local_named_by_a_server(client, where, source)
    elif source.startswith("runs:/"):
        from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository

        named_run, _ = RunsArtifactRepository.parse_runs_uri(source)
        _refuse_local_named_by_a_server(client, str(client.get_run(named_run).info.artifact_uri), source)
    with tempfile.TemporaryDirectory(prefix="modelreg-mlflow-") as tmp:
        local = Path(local_model_path) if local_model_path else None
        if local is not None and local.is_dir():
            files = local
        else:
            got = mlflow.artifacts.download_artifacts(artifact_uri=where, dst_path=tmp, tracking_uri=tracking_uri)
            files = Path(got)
        logged = Logged(files)
        run = None
        if run_id:
            try:
                run = client.get_run(run_id)
            except MlflowException:
                run = None  # deleted for good: the version keeps its files, without metrics
        metrics: dict[str, Any] = dict(run.data.metrics) if run else {}
        params: dict[str, Any] = dict(run.data.params) if run else {}
        if logged_model is not None:
            for metric in logged_model.metrics or []:
                metrics.setdefault(metric.key, metric.value)
            for k, v in (logged_model.params or {}).items():
                params.setdefault(k, v)
        logged.metrics = _pairs(metrics, logged.left_out, "metric")
        logged.params = {k: str(v) for k, v in _pairs(params, logged.left_out, "param").items()}
        logged.imported = lineage(tracking_uri, name, source, run_id, model_id, run_link, run)
        yield logged


def _without_secret(uri: str | None) -> str | None:
    """A tracking URI as kept in a manifest: never its user name or password."""
    if not uri:
        return uri
    parsed = urlsplit(uri)
    if "@" not in parsed.netloc:
        return uri
    return urlunsplit(parsed._replace(netloc=parsed.netloc.rpartition("@")[2]))


def lineage(
    tracking_uri: str | None,
    name: str,
    source: str,
    run_id: str | None,
    model_id: str | None,
    run_link: str | None,
    run: Any,
) -> dict[str, Any]:
    """``lineage.imported`` as ``import mlflow`` writes it; the version number and MLflow's times
    are this registry's own here (the version is born in it), so they are left empty."""
    info = run.info if run is not None else None
    tags = dict(run.data.tags) if run is not None else {}
    creator = tags.get("mlflow.user") or (info.user_id if info is not None else None)
    return {
        "from": "mlflow",
        "tracking_uri": _without_secret(tracking_uri),
        "name": name,
        "version": None,
        "created_at": None,
        "updated_at": None,
        "stage": "None",
        "run_id": run_id,
        "source": _without_secret(source),
        "model_id": model_id,
        "run_link": run_link,
        "creator": creator if creator and creator != "unknown" else None,
        "run": None
        if info is None
        else {
            "name": info.run_name,
            "experiment_id": str(info.experiment_id) if info.experiment_id is not None else None,
            "started_at": _rfc3339(info.start_time),
            "ended_at": _rfc3339(info.end_time),
            "status": info.status,
            "deleted": info.lifecycle_stage == "deleted",
            "git_commit": tags.get("mlflow.source.git.commit"),
        },
    }
