"""Publishing the registry's records beside its bytes, so a host with only read access to the
remote can ask it questions (``-R s3://bucket/prefix``; format in ``repo/published.py``).

Every record goes up as an immutable object named by its SHA-256 (only those the remote lacks),
then the publication index, and last the pointer: a reader that follows the pointer finds
everything it names, and sees this publication whole or the previous one. ``push`` publishes after
the bytes are up, so every version a publication names can be served.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelreg.base.fs import open_regular, read_limited
from modelreg.errors import ConflictError
from modelreg.records.config import CONFIG_NAME
from modelreg.records.yamlio import MAX_MANIFEST_BYTES
from modelreg.repo import LOG_NAME, Repo
from modelreg.repo.locate import POINTER
from modelreg.repo.published import FORMAT, MODEL_FILE_RE, RECORDS, digest_of, iter_segments
from modelreg.stores.remotes.backend import Backend

_ATTEMPTS = 5  # snapshots tried while other processes keep changing the registry


@dataclass(frozen=True)
class Published:
    publication: str  # the index's SHA-256
    records: int  # objects uploaded (the rest were there already)
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {"publication": self.publication, "records": self.records, "bytes": self.bytes}


def publish(reg: Repo, backend: Backend) -> Published:
    """Upload what the remote lacks of this registry's records, then point readers at them."""
    present = set(backend.list(RECORDS))
    sent = [0, 0]

    def put(data: bytes) -> str:
        digest = digest_of(data)
        if RECORDS + digest not in present:
            backend.write(RECORDS + digest, data)
            present.add(RECORDS + digest)
            sent[0] += 1
            sent[1] += len(data)
        return digest

    models, audit = _records(reg, put)
    config = put(_read(reg.root / CONFIG_NAME, MAX_MANIFEST_BYTES))
    index = {"format": FORMAT, "config": config, "audit": audit, "models": models}
    publication = put(_json(index))
    backend.write(POINTER, _json({"format": FORMAT, "publication": publication}))
    return Published(publication, sent[0], sent[1])


def _records(reg: Repo, put: Any) -> tuple[dict[str, str], list[str]]:
    """Each model's listing and the audit segments, as one state of the registry.

    A change writes its model's files, then appends its audit entries, its journal present
    throughout: what is read while no journal is pending and the log did not grow is a state the
    registry was in. An interrupted change is finished first, as verify and gc do."""
    for _attempt in range(_ATTEMPTS):
        reg.recover_all()
        before = _log_size(reg)
        models = {name: put(_listing(reg, name, put)) for name in reg.model_names()}
        audit: list[str] = []
        try:
            with os.fdopen(open_regular(reg.tree.inside(reg.root / LOG_NAME)), "rb") as log:
                audit = [put(segment) for segment in iter_segments(log)]
        except FileNotFoundError:
            pass
        if not reg.journal.pending() and _log_size(reg) == before:
            return models, audit
    raise ConflictError(
        "the registry kept changing while it was being published: run 'modelreg push' again", code="busy"
    )


def _log_size(reg: Repo) -> int:
    try:
        return os.lstat(reg.root / LOG_NAME).st_size
    except FileNotFoundError:
        return 0


def _listing(reg: Repo, name: str, put: Any) -> bytes:
    """The model's files (path in its folder -> SHA-256), each uploaded as a record."""
    folder = reg.model_dir(name)
    files: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for fname in filenames:
            path = os.path.join(dirpath, fname)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            if MODEL_FILE_RE.fullmatch(rel) and stat.S_ISREG(os.lstat(path).st_mode):
                files[rel] = put(_read(reg.tree.inside(folder / rel), MAX_MANIFEST_BYTES))
    return _json({"files": dict(sorted(files.items()))})


def _read(path: Path, limit: int) -> bytes:
    return read_limited(path, limit)


def _json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
