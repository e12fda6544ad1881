"""A registry read straight from its publication on a remote: no clone, no git, read-only.

``push`` publishes the registry's records beside the blobs (``ops/storage/publish.py``). On the
remote, every record is an immutable object named by the SHA-256 of its bytes
(``records/<hex>``): the configuration, each model's listing (its files: path -> hex), the files
themselves, and the audit log cut into segments at line ends. A publication index names them all,
and one small pointer object, ``published.json``, names the index: written last, in one PUT, so a
reader sees the previous publication or the new one, never a mix.

A reader (``-R s3://bucket/prefix``, or ``-R DIR`` on a published remote directory) reads the
pointer, then builds a view of that publication in the user's cache: an ordinary registry
directory, filled model by model and manifest by manifest as the questions need them, so
``get-production NAME`` costs the pointer and a few small objects whatever the registry's size,
and a second call, with nothing republished, only the pointer. Every object read is checked
against its name before it is kept; nothing a remote names can choose a path outside the view.
Blobs and served copies are kept beside the views, shared by all publications.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, suppress
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from modelreg.base.fs import Tree, atomic_write, read_limited, tmp_name
from modelreg.base.machine import cache_dir, forget_registry
from modelreg.errors import IntegrityError, ModelregError, NotFoundError, UsageError
from modelreg.records.config import CONFIG_NAME, load_config
from modelreg.records.names import is_valid_name
from modelreg.records.yamlio import MAX_MANIFEST_BYTES
from modelreg.stores.blobs import LocalBlobStore

from .locate import POINTER, is_published_url, read_only_error
from .repo import LOG_NAME, Repo

if TYPE_CHECKING:
    from modelreg.records.audit import AuditLog
    from modelreg.records.history_view import HistoryView
    from modelreg.records.journal import Change
    from modelreg.stores.remotes.backend import Backend
    from modelreg.stores.remotes.blob_remote import BlobRemote
    from modelreg.stores.remotes.s3_light import LightS3

FORMAT = 1
RECORDS = "records/"
SEGMENT = 4 << 20  # the audit log is cut at the first line end past each multiple of this
MAX_POINTER = 64 << 10
MAX_INDEX = 64 << 20
MAX_SEGMENT = SEGMENT + (1 << 20)  # a segment ends at a line end; entries are capped far below 1 MiB
_HEX_RE = re.compile(r"[0-9a-f]{64}")
# What a model folder may hold: its own records, never a path that leaves it.
MODEL_FILE_RE = re.compile(r"([a-z_]+|versions/[1-9][0-9]{0,9}|[a-z_]+/[A-Za-z0-9_-]{1,100})\.yaml")
KEEP_VIEWS = 3  # earlier views are removed once this many were used after them
VIEW_GRACE = 600.0  # ... and unused for this long (a reader may still be using one); records and parses too


def s3_location(url: str) -> tuple[str, str]:
    """The bucket and the key prefix (``""`` or ending in ``/``) of ``s3://bucket/prefix``."""
    bucket, _, prefix = url[len("s3://") :].partition("/")
    segments = [part for part in prefix.split("/") if part]
    if not bucket or any(part in (".", "..") for part in segments):
        raise UsageError(f"{url!r} is not s3://bucket/prefix (no '.' or '..' segments)")
    return bucket, "".join(f"{part}/" for part in segments)


def read_s3_pointer(url: str) -> bytes | None:
    """The pointer of ``s3://bucket/prefix``, read with botocore's client alone: it is all that a
    reader with a warm cache asks of the bucket, and boto3 with its transfer manager (which
    ``S3Backend`` opens) would cost as much again to import."""
    from modelreg.stores.remotes.s3_client import botocore_alone

    try:
        with botocore_alone():
            import botocore.config
            import botocore.exceptions as bexc
            import botocore.session
    except ImportError:
        raise UsageError(
            f"the remote {url} is on S3, which needs boto3: pip install 'modelreg[s3]'", code="missing_dependency"
        ) from None
    from modelreg.stores.remotes.directory import too_large
    from modelreg.stores.remotes.s3_client import S3_CONNECT_TIMEOUT, S3_MAX_ATTEMPTS, S3_READ_TIMEOUT
    from modelreg.stores.remotes.s3_errors import is_404, translate
    from modelreg.stores.remotes.s3_light import endpoint_from_env
    from modelreg.stores.remotes.s3_reads import read_range, status_of

    bucket, prefix = s3_location(url)
    endpoint = endpoint_from_env()
    options: dict[str, Any] = {
        "connect_timeout": S3_CONNECT_TIMEOUT,
        "read_timeout": S3_READ_TIMEOUT,
        "retries": {"max_attempts": S3_MAX_ATTEMPTS, "mode": "standard"},
        "user_agent_extra": "modelreg",
    }
    if endpoint:  # as S3Backend does for S3-compatible stores
        options["s3"] = {"addressing_style": "path"}
        if "request_checksum_calculation" in getattr(botocore.config.Config, "OPTION_DEFAULTS", {}):
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
    where = f"{url} (endpoint {endpoint})" if endpoint else url
    try:
        client = botocore.session.get_session().create_client(
            "s3",
            endpoint_url=endpoint,
            region_name=os.environ.get("AWS_REGION") or None,
            config=botocore.config.Config(**options),
        )
        data = read_range(client, bucket, prefix + POINTER, 0, MAX_POINTER, where=url)
    except ValueError as exc:  # botocore: "Invalid endpoint: ..."
        raise UsageError(f"invalid endpoint_url {endpoint!r} for {url}: {exc}") from exc
    except (bexc.BotoCoreError, bexc.ClientError) as exc:
        if is_404(bexc, exc):
            return None
        if status_of(exc) == 416:  # an empty object
            return b""
        raise translate(bexc, exc, where=where, url=url) from exc
    if len(data) > MAX_POINTER:
        raise too_large(POINTER, url, MAX_POINTER)
    return data


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_hex(value: object, what: str) -> str:
    if not isinstance(value, str) or not _HEX_RE.fullmatch(value):
        raise IntegrityError(f"the publication names {what} by {value!r}, not a SHA-256", code="remote_corrupt")
    return value


def iter_segments(log: BinaryIO) -> Iterator[bytes]:
    """The audit log in segments, each ending at the first line end past a multiple of
    ``SEGMENT``: an append changes only the last one, and no more than one is held at a time."""
    while True:
        segment = log.read(SEGMENT)
        if not segment:
            return
        if not segment.endswith(b"\n"):
            rest = log.readline(MAX_SEGMENT - SEGMENT)
            segment += rest
        yield segment


class Publication:
    """The index a pointer names: the configuration, the audit segments, and each model's listing."""

    def __init__(self, digest: str, data: dict[str, Any], url: str) -> None:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise IntegrityError(f"the publication at {url} is not one this modelreg reads", code="remote_corrupt")
        self.digest = digest
        self.config = check_hex(data.get("config"), "its configuration")
        audit = data.get("audit")
        models = data.get("models")
        if not isinstance(audit, list) or not isinstance(models, dict):
            raise IntegrityError(f"the publication at {url} is malformed", code="remote_corrupt")
        self.audit = [check_hex(h, "an audit segment") for h in audit]
        self.models: dict[str, str] = {}
        for name, listing in models.items():
            if not isinstance(name, str) or not is_valid_name(name):
                raise IntegrityError(f"the publication at {url} names a model {name!r}", code="remote_corrupt")
            self.models[name] = check_hex(listing, f"the listing of {name}")


class PublishedRepo(Repo):
    """The view of one publication: reads as a registry, refuses every change (exit 4)."""

    def __init__(self, url: str, backend: Backend | None = None, mirror: Path | None = None) -> None:
        self.url = url
        self._given_backend = backend
        self.mirror = mirror or cache_dir() / "published" / hashlib.sha256(url.encode()).hexdigest()[:24]
        self.mirror_tree = Tree(self.mirror.parent)
        self.mirror_tree.inside(self.mirror / "objects" / "entry")
        self._listings: dict[str, dict[str, str]] = {}
        self._open(self._read_publication())

    def _open(self, publication: Publication) -> None:
        """Read ``publication`` from now on: its view, built if this machine has none yet."""
        self.publication = publication
        self._listings = {}
        view = self.mirror / "views" / publication.digest
        if (view / CONFIG_NAME).is_file():
            with suppress(OSError):  # the views a reader uses are the last ones collected
                os.utime(view)
        else:
            self._build_base(view)
            self._collect()
        # The configuration's parse is cached beside the views, as a clone caches it.
        super().__init__(view, load_config(view / CONFIG_NAME, self.mirror / "state" / "cache" / "parsed"))
        # Shared by every publication of this URL: fetched blobs, served copies, caches.
        self.tree = Tree(self.mirror)  # the view and the state beside it: no link followed in either
        self.state_dir = self.mirror / "state"
        self.parse_cache = self.state_dir / "cache" / "parsed"
        self.blobs = LocalBlobStore(self.mirror / "blobs", Tree(self.mirror), self.config.chunk_min_size())
        for name in ("audit", "history_view", "journal"):  # read from the view: the new one's
            self.__dict__.pop(name, None)

    def refresh(self) -> bool:
        """Follow the pointer: True when a newer publication is read from now on (a long-lived
        reader calls this between questions; nothing of the earlier one stays in memory)."""
        publication = self._read_publication()
        if publication.digest == self.publication.digest:
            return False
        earlier = self.root
        self._open(publication)
        forget_registry(earlier)
        return True

    # -- reading the remote ----------------------------------------------------------------

    @cached_property
    def backend(self) -> Backend:
        """Opened at the first record or file missing from the cache: a warm reader never needs it."""
        from .published_backend import ReaderBackend, open_backend

        return ReaderBackend(self._given_backend if self._given_backend is not None else open_backend(self.url))

    @cached_property
    def _light(self) -> LightS3 | None:
        """The bucket's small objects read without botocore's client, where the environment allows."""
        if self._given_backend is not None or not is_published_url(self.url):
            return None
        from modelreg.stores.remotes.s3_light import open_light

        return open_light(*s3_location(self.url), self.url)

    def _read_small(self, key: str, limit: int) -> bytes | None:
        """The pointer or a record: through the light reader when there is one, else the backend."""
        light = self._light
        if light is not None:
            return light.read(key, limit)
        if key == POINTER and self._given_backend is None and is_published_url(self.url):
            return read_s3_pointer(self.url)
        return self.backend.read(key, limit)

    def _read_pointer(self) -> bytes | None:
        return self._read_small(POINTER, MAX_POINTER)

    def _read_publication(self) -> Publication:
        raw = self._read_pointer()
        if raw is None:
            raise NotFoundError(
                f"nothing is published at {self.url}: run 'modelreg push' from a clone of the registry",
                code="no_registry",
            )
        try:
            pointer = json.loads(raw)
        except (ValueError, RecursionError):  # nesting deep enough exhausts the decoder's stack
            raise IntegrityError(f"the publication pointer at {self.url} is not JSON", code="remote_corrupt") from None
        if not isinstance(pointer, dict) or pointer.get("format") != FORMAT:
            raise IntegrityError(f"the publication at {self.url} is not one this modelreg reads", code="remote_corrupt")
        digest = check_hex(pointer.get("publication"), "its index")
        return Publication(digest, self._json(digest, MAX_INDEX), self.url)

    def _object(self, digest: str, limit: int) -> bytes:
        """The record named ``digest``: from the cache, else from the remote, checked before it is kept."""
        cached = self.mirror_tree.inside(self.mirror / "objects" / digest)
        try:
            with open(cached, "rb") as f:
                data = f.read(limit + 1)
            if digest_of(data) == digest:
                return data
        except (FileNotFoundError, NotADirectoryError):
            pass
        fetched = self._read_small(RECORDS + digest, limit)
        if fetched is None:
            raise IntegrityError(
                f"the record {RECORDS}{digest} that the publication at {self.url} names is missing; "
                "a 'modelreg push' from a clone repairs it",
                code="remote_corrupt",
            )
        data = fetched
        if digest_of(data) != digest:
            raise IntegrityError(
                f"the record {RECORDS}{digest} at {self.url} does not match its name: nothing was kept; "
                "a 'modelreg push' from a clone repairs it",
                code="digest_mismatch",
            )
        cached.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(cached, data)
        return data

    def _json(self, digest: str, limit: int) -> Any:
        try:
            return json.loads(self._object(digest, limit))
        except (ValueError, RecursionError):
            raise IntegrityError(
                f"the record {RECORDS}{digest} at {self.url} is not JSON", code="remote_corrupt"
            ) from None

    def _listing(self, name: str) -> dict[str, str]:
        if name not in self._listings:
            data = self._json(self.publication.models[name], MAX_INDEX)
            files = data.get("files") if isinstance(data, dict) else None
            if not isinstance(files, dict):
                raise IntegrityError(f"the listing of {name} at {self.url} is malformed", code="remote_corrupt")
            listing = {}
            for path, digest in files.items():
                if not isinstance(path, str) or not MODEL_FILE_RE.fullmatch(path):
                    raise IntegrityError(
                        f"the listing of {name} at {self.url} names a file {path!r}", code="remote_corrupt"
                    )
                listing[path] = check_hex(digest, f"{name}/{path}")
            self._listings[name] = listing
        return self._listings[name]

    # -- the view --------------------------------------------------------------------------

    def _build_base(self, view: Path) -> None:
        """A new view: the configuration and an empty ``models/``, swapped in whole."""
        self.mirror_tree.inside(view / "entry")
        view.parent.mkdir(parents=True, exist_ok=True)
        work = tmp_name(view)
        (work / "models").mkdir(parents=True)
        (work / CONFIG_NAME).write_bytes(self._object(self.publication.config, MAX_MANIFEST_BYTES))
        try:
            os.rename(work, view)
        except OSError:
            import shutil

            shutil.rmtree(work, ignore_errors=True)  # another reader built it first

    def _collect(self) -> None:
        """Once a new publication's view is built: forget the views of publications read least
        recently (all but the last few, and none used within the grace period), then the records
        and parses that no remaining view needs. Nothing else relies on them: a view holds copies
        of its files, so what is removed here is at worst fetched or parsed again."""
        now = time.time()
        views = self.mirror / "views"
        try:
            entries = sorted(
                ((e.stat(follow_symlinks=False).st_mtime, e.name, e.path) for e in os.scandir(views)),
                reverse=True,
            )
        except OSError:
            return
        kept: list[str] = []
        for mtime, name, path in entries:  # the most recently used first
            view = _HEX_RE.fullmatch(name) is not None
            if view and (len(kept) < KEEP_VIEWS or now - mtime <= VIEW_GRACE):
                kept.append(name)
            elif now - mtime > VIEW_GRACE:  # an earlier view, or what a killed reader left
                import shutil

                shutil.rmtree(path, ignore_errors=True)
        needed = self._needed_by(kept)
        parses = {hashlib.blake2b(data, digest_size=16).hexdigest() for data in needed.values() if data is not None}
        _sweep(self.mirror / "objects", lambda name: name in needed, now)
        # parsed/<rules>/<ab>/<key>: a parse is named by a hash of the bytes parsed
        _sweep(self.mirror / "state" / "cache" / "parsed", lambda name: name in parses, now, depth=3)

    def _needed_by(self, publications: list[str]) -> dict[str, bytes | None]:
        """Every record the cached indexes of ``publications`` name, with the bytes of the model
        files among them (whose parses are kept too): what the remaining views may still fetch."""
        needed: dict[str, bytes | None] = {}

        def cached(digest: str, limit: int) -> bytes | None:
            try:
                data = read_limited(self.mirror_tree.inside(self.mirror / "objects" / digest), limit)
            except (OSError, ModelregError):
                return None
            return data if digest_of(data) == digest else None

        def as_json(digest: str, limit: int) -> Any:
            data = cached(digest, limit)
            with suppress(ValueError, RecursionError):
                return json.loads(data) if data is not None else None
            return None

        for digest in publications:
            needed[digest] = None
            index = as_json(digest, MAX_INDEX)
            if not isinstance(index, dict):
                continue
            config = index.get("config")
            if isinstance(config, str) and _HEX_RE.fullmatch(config):
                needed[config] = cached(config, MAX_MANIFEST_BYTES)
            for segment in index.get("audit") or []:
                if isinstance(segment, str):
                    needed[segment] = None
            models = index.get("models")
            for listing in models.values() if isinstance(models, dict) else ():
                if not isinstance(listing, str) or not _HEX_RE.fullmatch(listing):
                    continue
                needed[listing] = None
                files = as_json(listing, MAX_INDEX)
                files = files.get("files") if isinstance(files, dict) else None
                for file_digest in files.values() if isinstance(files, dict) else ():
                    if isinstance(file_digest, str) and _HEX_RE.fullmatch(file_digest) and file_digest not in needed:
                        needed[file_digest] = cached(file_digest, MAX_MANIFEST_BYTES)
        return needed

    def _ensure_model(self, name: str) -> None:
        """The model's own records (not its manifests) in the view, written whole or not at all."""
        folder = self.root / "models" / name
        if name not in self.publication.models or (folder / "model.yaml").is_file():
            return
        work = tmp_name(folder)
        work.mkdir(parents=True)
        try:
            for path, digest in self._listing(name).items():
                if path.startswith("versions/"):
                    continue
                target = work / path
                target.parent.mkdir(exist_ok=True)
                target.write_bytes(self._object(digest, MAX_MANIFEST_BYTES))
            (work / "versions").mkdir(exist_ok=True)
            with suppress(OSError):  # another reader of this publication built it first
                os.rename(work, folder)
        finally:
            import shutil

            shutil.rmtree(work, ignore_errors=True)

    def _ensure_manifest(self, name: str, number: int) -> None:
        target = self.root / "models" / name / "versions" / f"{number}.yaml"
        digest = self._listing(name).get(f"versions/{number}.yaml") if name in self.publication.models else None
        if digest is None or target.is_file():
            return
        atomic_write(target, self._object(digest, MAX_MANIFEST_BYTES))

    def _ensure_audit(self) -> None:
        log = self.root / LOG_NAME
        if log.is_file():
            return
        work = tmp_name(log)
        try:
            with open(work, "wb") as out:
                for digest in self.publication.audit:
                    out.write(self._object(digest, MAX_SEGMENT))
            os.rename(work, log)
        finally:
            work.unlink(missing_ok=True)

    def prepare_all(self) -> None:
        for name in self.model_names():
            self._ensure_model(name)
            for path in self._listing(name):
                if path.startswith("versions/"):
                    self._ensure_manifest(name, int(path[len("versions/") : -len(".yaml")]))
        self._ensure_audit()

    # -- the registry's questions, answered from the view ----------------------------------------

    def model_names(self) -> list[str]:
        return sorted(self.publication.models)

    def model_dir(self, name: str) -> Path:
        folder = super().model_dir(name)
        self._ensure_model(name)
        return folder

    def manifest_path(self, name: str, number: int) -> Path:
        path = super().manifest_path(name, number)
        self._ensure_manifest(name, number)
        return path

    def manifest_numbers(self, name: str) -> set[int]:
        """The versions the publication lists (its manifests are fetched only when read)."""
        if name not in self.publication.models:
            return set()
        found = (p[len("versions/") : -len(".yaml")] for p in self._listing(name) if p.startswith("versions/"))
        return {int(n) for n in found if n.isascii() and n.isdigit() and not n.startswith("0") and len(n) <= 9}

    @cached_property
    def audit(self) -> AuditLog:
        self._ensure_audit()
        return Repo.audit.func(self)  # type: ignore[attr-defined, no-any-return]

    @cached_property
    def history_view(self) -> HistoryView:
        self._ensure_audit()
        return Repo.history_view.func(self)  # type: ignore[attr-defined, no-any-return]

    def remote(self) -> BlobRemote:
        if self._remote is None:
            from modelreg.stores.remotes.blob_remote import BlobRemote

            self._remote = BlobRemote(self.backend)
        return self._remote  # type: ignore[return-value]

    def blob_problem(self, digest: str, size: int, quick: bool) -> str | None:
        """Quick: the remote holds the file (a whole blob of its size, or its chunk recipe); else
        its bytes, fetched into this machine's cache and verified."""
        if quick:
            remote = self.remote()
            if not remote.missing([digest], {digest: size}):
                return None
            if self.backend.stat(f"recipes/{digest.partition(':')[2]}") is not None:
                return None
            return "missing on the remote"
        if not self.blobs.has(digest, size):
            from modelreg.errors import ModelregError

            from .fetching import fetch_file

            try:
                with self.blob_lock():
                    fetch_file(self.remote(), self.blobs, self.remote_index(), digest, size)
            except ModelregError as exc:
                return exc.message
        return super().blob_problem(digest, size, quick)

    # -- every change is refused ---------------------------------------------------------------

    def require_writable(self) -> None:
        raise read_only_error(self.url)

    def _refuse(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise read_only_error(self.url)

    def model_lock(self, name: str, *, new: bool = False) -> AbstractContextManager[None]:
        self._refuse()

    def audit_lock(self) -> AbstractContextManager[None]:
        self._refuse()

    def commit(self, change: Change) -> list[dict[str, Any]]:
        self._refuse()

    def locked_state(self, name: str) -> Any:
        self._refuse()

    def recover_all(self) -> list[str]:
        return []


def _sweep(folder: Path, keep: Callable[[str], bool], now: float, depth: int = 1) -> None:
    """Remove the files of ``folder`` and its subfolders down to ``depth`` that ``keep`` refuses by
    name, unless written within the grace period (another reader may be building a view)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if depth > 1 and entry.is_dir(follow_symlinks=False):
            _sweep(Path(entry.path), keep, now, depth - 1)
            continue
        with suppress(OSError):
            if not keep(entry.name) and now - entry.stat(follow_symlinks=False).st_mtime > VIEW_GRACE:
                os.unlink(entry.path)
