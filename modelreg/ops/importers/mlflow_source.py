"""Reading an MLflow model registry through MLflow's own client, never its database tables, so
that a sqlite store, a file store and a tracking server read the same way.

MLflow is imported here only, inside ``open_source``. What it would otherwise do to the user's
machine is prevented: it migrates (rewrites) an older sqlite file it opens and creates a missing
one, so a sqlite store is read from a snapshot taken read-only; it falls back to a global URI
(creating ``./mlflow.db``) in some internal calls, so the global URIs point at the store while
it is read; its telemetry is off, and a dead server fails in seconds, not minutes.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from modelreg.errors import ModelregError, NotFoundError, RemoteError, UsageError

T = TypeVar("T")
INSTALL_HINT = "install the MLflow extra: pip install 'modelreg[mlflow]'"
# Set while MLflow runs (a value the user set wins, except MLflow's own download bars).
_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",  # MLflow's default (7 retries, 120 s) waits ~4 min on a dead server
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
    "GIT_PYTHON_REFRESH": "quiet",
}
_FORCED = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}  # the import draws its own progress


class Unfetchable(Exception):
    """A version's artifacts could not be downloaded: the version is skipped, never half-imported."""


class OutsideStore(Unfetchable):
    """A version's source names a place outside the store's own artifact locations: never fetched."""


@dataclass(frozen=True)
class Location:
    """Where the store is: ``kind`` is sqlite, file, server or other; ``uri`` has no credentials."""

    kind: str
    uri: str
    path: Path | None = None


@dataclass(frozen=True)
class MlflowRun:
    run_id: str
    name: str | None
    experiment_id: str | None
    user: str | None
    started_at: str | None
    ended_at: str | None
    status: str | None
    deleted: bool
    git_commit: str | None
    metrics: dict[str, float]
    params: dict[str, str]


@dataclass(frozen=True)
class MlflowVersion:
    version: int
    stage: str
    status: str
    description: str
    tags: dict[str, str]
    run_id: str | None
    source: str
    user_id: str | None
    created_at: str | None
    updated_at: str | None


@dataclass(frozen=True)
class MlflowModel:
    name: str
    description: str
    tags: dict[str, str]
    aliases: dict[str, int]
    created_at: str | None
    versions: tuple[MlflowVersion, ...] = field(default_factory=tuple)


def rfc3339(ms: Any) -> str | None:
    """MLflow's milliseconds since the epoch as RFC 3339 UTC."""
    if ms is None:
        return None
    return datetime.fromtimestamp(int(ms) / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def without_credentials(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


# Other stores MLflow's client reads (a database's driver may need installing: dialect+driver://).
_OTHER_STORES = frozenset({"databricks", "databricks-uc", "postgresql", "mysql", "mssql", "uc"})


def locate(text: str, cwd: Path) -> Location:
    """Check the tracking URI before MLflow sees it: MLflow would create a missing store."""
    text = text.strip()
    if not text:
        raise UsageError("give the MLflow store: --tracking-uri URI (or set MLFLOW_TRACKING_URI)", code="invalid_input")
    scheme = urlsplit(text).scheme.lower()
    if scheme == "sqlite":
        rest = text.split(":", 1)[1]
        if not rest.startswith("///") or rest[3:].split("?")[0] in ("", ":memory:"):
            raise UsageError(f"{text!r}: give a sqlite file, sqlite:///relative.db or sqlite:////abs.db")
        return _sqlite(cwd / unquote(rest[3:].split("?")[0]), text)
    if scheme == "file":
        return _file_store(Path(unquote(urlsplit(text).path)), text)
    if scheme in ("http", "https"):
        return Location("server", without_credentials(text).rstrip("/"))
    if scheme.split("+")[0] in _OTHER_STORES:  # read as given (not tested here)
        return Location("other", without_credentials(text))
    if scheme and len(scheme) > 1:
        raise UsageError(
            f"{without_credentials(text)!r}: not an MLflow tracking URI this import reads "
            "(sqlite:///FILE, file:///DIR, http(s)://SERVER, a database URI or a path)",
            code="invalid_input",
        )
    path = cwd / text
    if path.is_file():
        return _sqlite(path, text)
    if path.is_dir():
        return _file_store(path, text)
    raise NotFoundError(f"no MLflow store at {str(path)!r} (a sqlite file or a file store directory)")


def _sqlite(path: Path, given: str) -> Location:
    path = path.absolute()
    if not path.is_file():
        raise NotFoundError(
            f"no MLflow database at {str(path)!r} ({given}); MLflow would create an empty one there, so check the path",
            code="not_found",
        )
    return Location("sqlite", f"sqlite:///{path}", path)


def _file_store(path: Path, given: str) -> Location:
    path = path.absolute()
    if not path.is_dir():
        raise NotFoundError(f"no MLflow file store at {str(path)!r} ({given})")
    if not (path / ".trash").is_dir():
        raise UsageError(f"{str(path)!r} is not an MLflow file store (it has no .trash directory)")
    return Location("file", path.as_uri(), path)


def _snapshot(db: Path, work: Path) -> Path:
    """A consistent copy of the user's database, read without ever opening it for writing."""
    copy = work / "mlflow.db"
    try:
        src = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
        try:
            out = sqlite3.connect(copy)
            try:
                src.backup(out)
            finally:
                out.close()
        finally:
            src.close()
    except sqlite3.DatabaseError as exc:
        raise UsageError(f"{str(db)!r} is not a readable sqlite database: {exc}") from None
    return copy


@contextmanager
def _environment(kind: str) -> Iterator[None]:
    wanted = {k: os.environ.get(k, v) for k, v in _ENVIRONMENT.items()} | _FORCED
    if kind == "file":
        wanted["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 refuses to open a file store otherwise
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated in MLflow 3
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def open_source(location: Location, work: Path) -> Iterator[MlflowSource]:
    """MLflow's client on the store, with the global URIs pointing at it while it is read."""
    with _environment(location.kind):
        try:
            import mlflow
            import mlflow.artifacts
            from mlflow.tracking._model_registry import utils as registry_utils
            from mlflow.tracking._tracking_service import utils as tracking_utils

            if location.kind == "sqlite":
                import alembic  # noqa: F401  (MLflow needs both to read sqlite; skinny lacks them)
                import sqlalchemy  # noqa: F401
        except ImportError as exc:
            raise UsageError(f"import mlflow needs MLflow ({exc.name} is missing): {INSTALL_HINT}") from None
        read_uri = location.uri
        if location.kind == "sqlite" and location.path is not None:
            read_uri = f"sqlite:///{_snapshot(location.path, work)}"
        # After the import, which configures MLflow's logger: a migrated snapshot would log its migrations.
        loggers = [logging.getLogger(n) for n in ("mlflow", "alembic")]
        levels = [lg.level for lg in loggers]
        for lg in loggers:
            lg.setLevel(logging.WARNING)
        saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
        env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
        mlflow.set_tracking_uri(read_uri)
        mlflow.set_registry_uri(read_uri)
        try:
            yield MlflowSource(location, read_uri, mlflow)
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)
            tracking_utils._tracking_uri, registry_utils._registry_uri = saved
            for k, v in env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class MlflowSource:
    """The registered models of one MLflow store, as plain values."""

    def __init__(self, location: Location, read_uri: str, mlflow: Any) -> None:
        from mlflow.exceptions import MlflowException

        self.location = location
        self.read_uri = read_uri
        self._mlflow = mlflow
        self._error: type[Exception] = MlflowException
        try:
            self.client = mlflow.MlflowClient(tracking_uri=read_uri, registry_uri=read_uri)
        except MlflowException as exc:
            message = str(getattr(exc, "message", exc)).splitlines()[0][:300]
            raise UsageError(f"MLflow cannot read {location.uri}: {message}", code="invalid_input") from None
        except ImportError as exc:
            raise _driver_missing(exc, location.uri) from None

    def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """An MLflow call; a store or server that fails is exit 4, a missing thing exit 3."""
        try:
            return fn(*args, **kwargs)
        except self._error as exc:
            code = str(getattr(exc, "error_code", ""))
            message = str(getattr(exc, "message", exc)).splitlines()[0][:300]
            if code == "RESOURCE_DOES_NOT_EXIST":
                raise NotFoundError(f"MLflow has no {what}: {message}") from None
            raise RemoteError(f"MLflow ({self.location.uri}) failed to give {what}: {message}") from None
        except ImportError as exc:
            raise _driver_missing(exc, self.location.uri) from None
        except (OSError, ValueError) as exc:  # a server's connection errors, a malformed answer
            raise RemoteError(f"MLflow ({self.location.uri}) failed to give {what}: {exc}") from None

    def _paged(self, what: str, fn: Callable[..., Any], **kwargs: Any) -> Iterator[Any]:
        token = None
        while True:
            page = self._call(what, fn, page_token=token, **kwargs)
            yield from page
            token = page.token
            if not token:
                return

    def model_names(self) -> list[str]:
        if self.location.kind == "file" and self.location.path and not (self.location.path / "models").is_dir():
            return []  # no registered models (and MLflow would create the directory)
        found = self._paged(
            "the registered models", self.client.search_registered_models, max_results=100, order_by=["name ASC"]
        )
        return sorted(str(rm.name) for rm in found)

    def model(self, name: str) -> MlflowModel | None:
        """A registered model with its versions in version order; None for a prompt."""
        rm = self._call(f"registered model {name!r}", self.client.get_registered_model, name)
        tags = {str(k): str(v) for k, v in (rm.tags or {}).items()}
        if tags.get("mlflow.prompt.is_prompt") == "true":
            return None
        quote = "'" if "'" not in name else '"'
        found = self._paged(
            f"the versions of {name!r}",
            self.client.search_model_versions,
            filter_string=f"name = {quote}{name}{quote}",
            max_results=1000,
        )
        versions = sorted((self._version(mv) for mv in found), key=lambda v: v.version)
        return MlflowModel(
            name=str(rm.name),
            description=str(rm.description or ""),
            tags=tags,
            # REST gives versions as strings, sqlite as integers; search results lack aliases.
            aliases={str(a): int(v) for a, v in (rm.aliases or {}).items()},
            created_at=rfc3339(rm.creation_timestamp),
            versions=tuple(versions),
        )

    @staticmethod
    def _version(mv: Any) -> MlflowVersion:
        return MlflowVersion(
            version=int(mv.version),
            stage=str(mv.current_stage or "None"),
            status=str(mv.status or "READY"),
            description=str(mv.description or ""),
            tags={str(k): str(v) for k, v in (mv.tags or {}).items()},
            run_id=str(mv.run_id) if mv.run_id else None,
            source=str(mv.source or ""),
            user_id=str(mv.user_id) if mv.user_id else None,
            created_at=rfc3339(mv.creation_timestamp),
            updated_at=rfc3339(mv.last_updated_timestamp),
        )

    def run(self, run_id: str) -> MlflowRun | None:
        """The version's source run; None when it was deleted for good (``mlflow gc``)."""
        try:
            run = self._call(f"run {run_id}", self.client.get_run, run_id)
        except NotFoundError:
            return None
        info, data = run.info, run.data
        tags = {str(k): str(v) for k, v in (data.tags or {}).items()}
        return MlflowRun(
            run_id=run_id,
            name=str(info.run_name) if info.run_name else None,
            experiment_id=str(info.experiment_id) if info.experiment_id is not None else None,
            user=tags.get("mlflow.user") or (str(info.user_id) if info.user_id else None),
            started_at=rfc3339(info.start_time),
            ended_at=rfc3339(info.end_time),
            status=str(info.status) if info.status else None,
            deleted=info.lifecycle_stage == "deleted",
            git_commit=tags.get("mlflow.source.git.commit"),
            metrics={str(k): float(v) for k, v in (data.metrics or {}).items()},
            params={str(k): str(v) for k, v in (data.params or {}).items()},
        )

    def _where(self, name: str, version: int, run_id: str | None) -> str:
        """The concrete location of the version's files, once it is known to lie under the store's
        own artifact locations (the run's artifact URI, the artifact location of its experiment or
        of its logged model's); else OutsideStore, and nothing is read from it."""
        # The concrete location; models:/ URIs would be resolved through the global registry.
        uri = str(
            self._call(
                f"where {name} version {version} is stored",
                self.client.get_model_version_download_uri,
                name,
                str(version),
            )
        )
        roots: list[str] = []
        if run_id:
            roots.extend(self._run_roots(run_id))
        scheme = urlsplit(uri).scheme.lower()
        if scheme == "runs":
            uri = self._resolve_runs(uri, roots)
        elif scheme == "models":
            uri = self._resolve_logged_model(uri, roots)
        if not roots:
            raise OutsideStore(
                f"its source {_shown(uri)} cannot be tied to a run or experiment of the store: not fetched"
            )
        if not any(artifact_inside(uri, root) for root in roots):
            raise OutsideStore(
                f"its source {_shown(uri)} lies outside the store's artifact locations "
                f"({', '.join(_shown(r) for r in dict.fromkeys(roots))}): not fetched"
            )
        return uri

    def _run_roots(self, run_id: str) -> list[str]:
        try:
            run = self._call(f"run {run_id}", self.client.get_run, run_id)
        except NotFoundError:
            return []
        roots = [str(run.info.artifact_uri)] if run.info.artifact_uri else []
        return roots + self._experiment_roots(run.info.experiment_id)

    def _experiment_roots(self, experiment_id: Any) -> list[str]:
        if experiment_id is None:
            return []
        try:
            exp = self._call(f"experiment {experiment_id}", self.client.get_experiment, str(experiment_id))
        except NotFoundError:
            return []
        return [str(exp.artifact_location)] if exp.artifact_location else []

    def _resolve_runs(self, uri: str, roots: list[str]) -> str:
        """``runs:/RUN/PATH`` as the run's artifact URI joined with PATH (whose ``..`` the check refuses)."""
        rest = uri.split(":", 1)[1].lstrip("/")
        run_id, _, path = rest.partition("/")
        run_roots = self._run_roots(run_id) if run_id else []
        if not run_roots:
            raise OutsideStore(f"its source {_shown(uri)} names a run the store does not have: not fetched")
        roots.extend(run_roots)
        return run_roots[0].rstrip("/") + ("/" + path if path else "")

    def _resolve_logged_model(self, uri: str, roots: list[str]) -> str:
        """``models:/m-ID`` (an MLflow 3 logged model) as that model's artifact location."""
        model_id = uri.split(":", 1)[1].strip("/")
        getter = getattr(self.client, "get_logged_model", None)
        if getter is None or "/" in model_id or not model_id:
            raise OutsideStore(f"its source {_shown(uri)} cannot be resolved to a place of the store: not fetched")
        model = self._call(f"logged model {model_id}", getter, model_id)
        roots.extend(self._experiment_roots(getattr(model, "experiment_id", None)))
        return str(model.artifact_location)

    def has_artifacts(self, name: str, version: int, run_id: str | None = None) -> tuple[bool, str]:
        """A cheap look (one listing) for the dry run: whether the version has files to fetch
        (OutsideStore when its source is not the store's to hand out)."""
        try:
            where = self._where(name, version, run_id)
            listed = self._mlflow.artifacts.list_artifacts(artifact_uri=where, tracking_uri=self.read_uri)
        except OutsideStore:
            raise
        except (ModelregError, self._error, OSError) as exc:
            return False, _short(exc)
        return (True, "") if listed else (False, f"no files at {where}")

    def download(self, name: str, version: int, dest: Path, run_id: str | None = None) -> Path:
        """The version's files, downloaded into ``dest`` (which must not exist yet): exactly the
        version's files, whatever else its run holds."""
        try:
            where = self._where(name, version, run_id)
            got = self._mlflow.artifacts.download_artifacts(
                artifact_uri=where, dst_path=str(dest), tracking_uri=self.read_uri
            )
        except (ModelregError, self._error, OSError) as exc:
            raise Unfetchable(self._hint(_short(exc))) from None
        path = Path(got)
        if not path.exists() or (path.is_dir() and not any(p.is_file() for p in path.rglob("*"))):
            raise Unfetchable(f"no files at {where}")
        return path

    def _hint(self, reason: str) -> str:
        if "mlflow-artifacts" in reason and self.location.kind != "server":
            return reason + " (the tracking server serves these artifacts: import from its http:// URL)"
        return reason


def _shown(uri: str) -> str:
    return repr(without_credentials(uri)[:200])


def _local_path(parts: Any) -> str | None:
    """The local path of a file URI or plain path (``parts`` from urlsplit); None if not local."""
    if parts.scheme.lower() not in ("", "file") or parts.netloc not in ("", "localhost"):
        return None
    return unquote(parts.path)


def artifact_inside(uri: str, root: str) -> bool:
    """Whether ``uri`` names ``root`` or a place under it: same scheme and host, no ``..``, and for
    local files the real paths (symbolic links resolved, inside the tree too) under the real root."""
    import posixpath

    where, base = urlsplit(uri), urlsplit(root)
    raw = unquote(where.path)
    if ".." in raw.split("/") or "\\" in raw or "\0" in raw:
        return False
    local, local_root = _local_path(where), _local_path(base)
    if local is not None or local_root is not None:
        if local is None or local_root is None or not local.startswith("/") or not local_root.startswith("/"):
            return False
        real, real_root = os.path.realpath(local), os.path.realpath(local_root)
        if not _under(real, real_root):
            return False
        if os.path.isdir(real):  # MLflow copies what a link inside points at: every link stays inside
            for folder, dirs, files in os.walk(real):
                for entry in (*dirs, *files):
                    path = os.path.join(folder, entry)
                    if os.path.islink(path) and not _under(os.path.realpath(path), real_root):
                        return False
        return True
    if (where.scheme.lower(), where.netloc) != (base.scheme.lower(), base.netloc):
        return False
    return _under(posixpath.normpath("/" + raw), posixpath.normpath("/" + unquote(base.path)))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _short(exc: BaseException) -> str:
    """MLflow's message on one line, without its decoration (``##### File artifacts #####``)."""
    text = str(getattr(exc, "message", None) or exc)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return (" ".join(lines) or type(exc).__name__)[:400]


def _driver_missing(exc: ImportError, uri: str) -> UsageError:
    """The database driver of a store MLflow reads through SQLAlchemy is not installed."""
    return UsageError(
        f"MLflow needs the Python package {exc.name or exc} to read {uri}: pip install it", code="invalid_input"
    )
