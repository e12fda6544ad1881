"""The version manifest: what a version holds, its schema, and the digest of its file set."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any

from modelreg.errors import UsageError
from modelreg.records.names import MAX_FILE_SIZE, MAX_VERSION, validate_name

MANIFEST_FORMAT = 1
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


class SchemaError(ValueError):
    """A manifest that does not follow the schema; the caller names the file."""


@dataclass(frozen=True)
class FileEntry:
    """One file of a version: its path inside the version, its size and its ``sha256:`` digest."""

    path: str
    size: int
    digest: str
    # What register read from the bytes (absent in manifests written before): the format, and
    # for a file holding pickle bytes the globals they import, or why they could not be read
    # to the end. Not part of the version's digest, which names the content alone.
    format: str | None = None
    imports: tuple[str, ...] | None = None
    unreadable: str | None = None
    compression: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "size": self.size, "digest": self.digest}
        if self.format is not None:
            data["format"] = self.format
        if self.compression is not None:
            data["compression"] = self.compression
        if self.imports is not None:
            data["imports"] = list(self.imports)
        if self.unreadable is not None:
            data["unreadable"] = self.unreadable
        return data

    def facts(self) -> dict[str, Any]:
        """The recorded facts alone (what the register audit entry fingerprints)."""
        data = self.to_dict()
        for key in ("path", "size", "digest"):
            del data[key]
        return data


_FORMAT_RE = re.compile(r"[a-z0-9][a-z0-9.+-]{0,31}")
MAX_IMPORTS = 10_000
MAX_FACT_TEXT = 1024


def facts_digest(files: tuple[FileEntry, ...] | list[FileEntry]) -> str | None:
    """SHA-256 over every file's recorded facts, so a hand-edited manifest cannot change what
    the safety judgment reads; None when no file has facts (a manifest of an older modelreg)."""
    if all(f.format is None for f in files):
        return None
    import json

    body = json.dumps({f.path: f.facts() for f in files}, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(body.encode()).hexdigest()


def file_set_digest(files: list[FileEntry]) -> str:
    """SHA-256 over each path, size and file digest in path order: it names the content."""
    h = hashlib.sha256()
    for entry in sorted(files, key=lambda f: f.path):
        h.update(f"{entry.path}\0{entry.size}\0{entry.digest}\n".encode())
    return "sha256:" + h.hexdigest()


@dataclass(frozen=True)
class Version:
    name: str
    version: int
    digest: str
    initial_stage: str
    created_at: str
    created_by: str
    files: tuple[FileEntry, ...]
    description: str = ""
    metrics: dict[str, int | float] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    stage: str = ""  # the current stage, filled in from the model's stage file
    aliases: tuple[str, ...] = ()  # filled in from the model's alias file
    removed: dict[str, Any] | None = None  # the removal (removed.yaml) of a removed version: in no stage

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def with_stage(self, stage: str, aliases: tuple[str, ...] | None = None) -> Version:
        return replace(self, stage=stage, aliases=self.aliases if aliases is None else aliases)

    def to_manifest(self) -> dict[str, Any]:
        # Key order is the on-disk order: stable so that git diffs stay small.
        return {
            "format_version": MANIFEST_FORMAT,
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "initial_stage": self.initial_stage,  # where it started; stages.yaml says where it is
            "created_at": self.created_at,
            "created_by": self.created_by,
            "description": self.description,
            "tags": dict(self.tags),
            "metrics": dict(self.metrics),
            "params": dict(self.params),
            "lineage": self.lineage,
            "files": [f.to_dict() for f in self.files],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "stage": None if self.removed else (self.stage or self.initial_stage),
            "digest": self.digest,
            "size": self.size,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "description": self.description,
            "metrics": dict(self.metrics),
            "params": dict(self.params),
            "tags": dict(self.tags),
            "lineage": self.lineage,
            "aliases": list(self.aliases),
            "files": [f.to_dict() for f in self.files],
            "removed": dict(self.removed) if self.removed else None,
        }


def _check_plain(value: Any, where: str, depth: int = 0) -> None:
    """Only what a JSON document can hold: a YAML date, set or binary makes the manifest invalid."""
    if depth > 50:
        raise SchemaError(f"{where} is nested too deeply")
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise SchemaError(f"{where} holds a non-finite number")
        return
    if isinstance(value, list):
        for item in value:
            _check_plain(item, where, depth + 1)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SchemaError(f"{where} has a non-string key {key!r}")
            _check_plain(item, f"{where}.{key}", depth + 1)
        return
    raise SchemaError(f"{where} holds a {type(value).__name__}, which is not a plain value")


def _req(data: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in data:
        raise SchemaError(f"missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise SchemaError(f"key {key!r} has the wrong type ({type(value).__name__})")
    return value


def _str_map(data: dict[str, Any], key: str) -> dict[str, str]:
    value = data.get(key) or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise SchemaError(f"{key!r} must map strings to strings")
    return value


def _facts(item: dict[str, Any], path: str) -> dict[str, Any]:
    """The optional facts of a file entry, each checked (a manifest may come from anyone)."""
    found: dict[str, Any] = {}
    for key in ("format", "compression"):
        value = item.get(key)
        if value is not None:
            if not isinstance(value, str) or not _FORMAT_RE.fullmatch(value):
                raise SchemaError(f"file {path!r} has an invalid {key}")
            found[key] = value
    imports = item.get("imports")
    if imports is not None:
        if (
            not isinstance(imports, list)
            or len(imports) > MAX_IMPORTS
            or not all(isinstance(i, str) and 0 < len(i) <= MAX_FACT_TEXT for i in imports)
        ):
            raise SchemaError(f"file {path!r} has an invalid list of imports")
        found["imports"] = tuple(imports)
    unreadable = item.get("unreadable")
    if unreadable is not None:
        if not isinstance(unreadable, str) or len(unreadable) > MAX_FACT_TEXT:
            raise SchemaError(f"file {path!r} has an invalid 'unreadable'")
        found["unreadable"] = unreadable
    if found and "format" not in found:
        raise SchemaError(f"file {path!r} has facts without its format")
    return found


def parse_manifest(data: Any) -> Version:
    """Build a Version from a parsed manifest, checking every field's shape."""
    if not isinstance(data, dict):
        raise SchemaError("a manifest must be a mapping")
    if data.get("format_version") != MANIFEST_FORMAT:
        raise SchemaError(f"unsupported format_version {data.get('format_version')!r}")
    name = _req(data, "name", str)
    try:
        validate_name(name)
    except UsageError as exc:
        raise SchemaError(exc.message) from None
    number = _req(data, "version", int)
    if number < 1 or number > MAX_VERSION:
        raise SchemaError(f"version must be an integer from 1 to {MAX_VERSION}")
    digest = _req(data, "digest", str)
    if not _DIGEST_RE.fullmatch(digest):
        raise SchemaError(f"digest {digest!r} is not sha256:<64 hex>")
    metrics = data.get("metrics") or {}
    _check_plain(metrics, "metrics")
    if not isinstance(metrics, dict) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in metrics.items()
    ):
        raise SchemaError("'metrics' must map names to numbers")
    lineage = data.get("lineage") or {}
    if not isinstance(lineage, dict):
        raise SchemaError("'lineage' must be a mapping")
    _check_plain(lineage, "lineage")
    raw_files = _req(data, "files", list)
    files = []
    for item in raw_files:
        if not isinstance(item, dict):
            raise SchemaError("each file must be a mapping of path, size and digest")
        path, size, fdigest = item.get("path"), item.get("size"), item.get("digest")
        if not isinstance(path, str) or not path:
            raise SchemaError("a file entry lacks its path")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < MAX_FILE_SIZE:
            raise SchemaError(f"file {path!r} has an invalid size (an integer from 0 to 2**63 - 1)")
        if not isinstance(fdigest, str) or not _DIGEST_RE.fullmatch(fdigest):
            raise SchemaError(f"file {path!r} has an invalid digest")
        files.append(FileEntry(path, size, fdigest, **_facts(item, path)))
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise SchemaError("'description' must be a string")
    return Version(
        name=name,
        version=number,
        digest=digest,
        initial_stage=_req(data, "initial_stage", str),
        created_at=_req(data, "created_at", str),
        created_by=_req(data, "created_by", str),
        files=tuple(files),
        description=description,
        metrics=dict(metrics),
        params=_str_map(data, "params"),
        tags=_str_map(data, "tags"),
        lineage=lineage,
    )
