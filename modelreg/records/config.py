"""``modelreg.toml``: format version, stages and their rules, remote store, policies."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.base.fs import read_limited
from modelreg.errors import UsageError
from modelreg.records.names import is_valid_stage_name
from modelreg.records.policy import Policy, parse_policy

CONFIG_NAME = "modelreg.toml"
FORMAT_VERSION = 2  # what init writes: large files as chunks (docs/storage-format.md)
READABLE_FORMATS = (1, 2)  # format 1 (every file a whole blob) is read as it is, and written as format 1
DEFAULT_CHUNK_MIN_SIZE = 8 << 20
DEFAULT_STAGES = ("development", "staging", "production", "archived")
DEFAULT_LOCK_TIMEOUT = 30.0


@dataclass(frozen=True)
class RemoteConfig:
    url: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    push_on_register: bool = False


CLAIM_ENGINES = ("s3", "git")


@dataclass(frozen=True)
class ClaimsConfig:
    """``[claims]``: where clones claim version numbers and swap pointers (docs/reference/claims.md)."""

    engine: str | None = None  # None: no engine, one directory and its locks as before
    git_remote: str = "origin"  # the git engine: the registry repository's remote


@dataclass(frozen=True)
class StorageConfig:
    chunk_min_size: int = DEFAULT_CHUNK_MIN_SIZE  # files at least this large are stored as chunks (format 2)


@dataclass(frozen=True)
class Config:
    stages: tuple[str, ...] = DEFAULT_STAGES
    default_stage: str = "development"
    exclusive: frozenset[str] = frozenset({"production"})
    archive_stage: str = "archived"
    require_reason: frozenset[str] = frozenset()
    production: str | None = "production"  # the stage get-production and rollback answer for
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    remote: RemoteConfig = field(default_factory=RemoteConfig)
    format_version: int = FORMAT_VERSION
    storage: StorageConfig = field(default_factory=StorageConfig)
    policy: Policy = field(default_factory=Policy)  # transitions, gates, hooks (records/policy.py)
    safety_allow: frozenset[str] = frozenset()  # [safety] allow: globals a pickle may import
    allowed_signers: str | None = None  # [signing] allowed_signers: a path inside the registry
    claims: ClaimsConfig = field(default_factory=ClaimsConfig)

    def chunk_min_size(self) -> int | None:
        """The size from which files are stored as chunks; None in a format-1 registry."""
        return self.storage.chunk_min_size if self.format_version >= 2 else None

    def check_stage(self, stage: str) -> str:
        if stage not in self.stages:
            raise UsageError(
                f"unknown stage {stage!r}; stages of this registry: {', '.join(self.stages)}",
                code="unknown_stage",
            )
        return stage

    def production_stage(self) -> str:
        if self.production is None:
            raise UsageError(
                "this registry names no production stage; set [stages] production in modelreg.toml",
                code="unknown_stage",
            )
        return self.production

    def remote_url(self) -> str | None:
        return os.environ.get("MODELREG_REMOTE") or self.remote.url


def default_toml() -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "stages": {
            "names": list(DEFAULT_STAGES),
            "default": "development",
            "exclusive": ["production"],
            "archive": "archived",
            "production": "production",
            "require_reason": [],
        },
        "locks": {"timeout_seconds": DEFAULT_LOCK_TIMEOUT},
        "storage": {"chunk_min_size": DEFAULT_CHUNK_MIN_SIZE},
        "remote": {"push_on_register": False},
    }


def _bad(path: Path, detail: str) -> UsageError:
    return UsageError(f"{path}: {detail}", code="invalid_config")


def _str_list(path: Path, table: dict[str, Any], key: str, default: list[str]) -> list[str]:
    value = table.get(key, default)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _bad(path, f"stages.{key} must be a list of strings")
    return value


def _opt_str(path: Path, table: dict[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise _bad(path, f"remote.{key} must be a string")
    return value or None


def _parse_toml(raw: bytes) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(str(exc)) from None


def load_config(path: Path, cache_dir: Path | None = None) -> Config:
    from modelreg.records.parsecache import load_cached

    try:
        raw = read_limited(path, 1 << 20)
        data = load_cached(raw, _parse_toml, cache_dir)
    except ValueError as exc:
        raise _bad(path, f"malformed TOML: {exc}") from None
    except OverflowError:
        raise _bad(path, "larger than 1 MiB") from None
    except OSError as exc:
        raise _bad(path, f"cannot read: {exc.strerror}") from None
    if not isinstance(data, dict):
        raise _bad(path, "malformed TOML")
    version = data.get("format_version")
    if isinstance(version, bool) or version not in READABLE_FORMATS:
        readable = " and ".join(str(v) for v in READABLE_FORMATS)
        raise _bad(path, f"format_version {version!r} is not supported (this modelreg reads {readable})")
    stages_t = data.get("stages", {})
    locks_t = data.get("locks", {})
    remote_t = data.get("remote", {})
    if not all(isinstance(t, dict) for t in (stages_t, locks_t, remote_t)):
        raise _bad(path, "[stages], [locks] and [remote] must be tables")
    names = _str_list(path, stages_t, "names", list(DEFAULT_STAGES))
    if not names or len(set(names)) != len(names) or not all(is_valid_stage_name(n) for n in names):
        raise _bad(path, "stages.names must be distinct lowercase stage names")
    default = stages_t.get("default", names[0])
    archive = stages_t.get("archive", "archived" if "archived" in names else names[-1])
    exclusive = _str_list(path, stages_t, "exclusive", ["production"] if "production" in names else [])
    require_reason = _str_list(path, stages_t, "require_reason", [])
    if "latest" in names:
        raise _bad(path, "'latest' cannot be a stage name: NAME@latest already means the newest version")
    # Which stage get-production answers for: named, else "production", else the only exclusive one.
    fallback = "production" if "production" in names else (exclusive[0] if len(exclusive) == 1 else None)
    production = stages_t.get("production", fallback)
    if production is not None and not isinstance(production, str):
        raise _bad(path, "stages.production must be a stage name")
    for stage in [default, archive, *exclusive, *require_reason, *([production] if production else [])]:
        if stage not in names:
            raise _bad(path, f"stage {stage!r} is not one of stages.names ({', '.join(names)})")
    if archive in exclusive:
        raise _bad(path, f"the archive stage {archive!r} cannot be exclusive")
    timeout = locks_t.get("timeout_seconds", DEFAULT_LOCK_TIMEOUT)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout < 0:
        raise _bad(path, "locks.timeout_seconds must be a non-negative number")
    push = remote_t.get("push_on_register", False)
    if not isinstance(push, bool):
        raise _bad(path, "remote.push_on_register must be true or false")
    remote = RemoteConfig(
        url=_opt_str(path, remote_t, "url"),
        endpoint_url=_opt_str(path, remote_t, "endpoint_url"),
        region=_opt_str(path, remote_t, "region"),
        push_on_register=push,
    )
    policy = parse_policy(data, tuple(names), default, lambda detail: _bad(path, detail))
    env_timeout = os.environ.get("MODELREG_LOCK_TIMEOUT")
    if env_timeout:
        try:
            timeout = float(env_timeout)
        except ValueError:
            timeout = -1.0
        if not 0 <= timeout < float("inf"):  # also refuses nan
            raise UsageError(f"MODELREG_LOCK_TIMEOUT must be a number of seconds >= 0, got {env_timeout!r}")
    return Config(
        stages=tuple(names),
        default_stage=default,
        exclusive=frozenset(exclusive),
        archive_stage=archive,
        require_reason=frozenset(require_reason),
        production=production,
        lock_timeout=float(timeout),
        remote=remote,
        format_version=int(version),
        storage=parse_storage(path, data),
        policy=policy,
        safety_allow=parse_safety(path, data),
        allowed_signers=parse_signing(path, data),
        claims=parse_claims(path, data),
    )


_GIT_REMOTE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,99}")


def parse_claims(path: Path, data: dict[str, Any]) -> ClaimsConfig:
    """``[claims] engine = "s3"`` (the ``[remote]`` store) or ``"git"`` (refs on the git remote
    named by ``remote``, default origin); docs/reference/claims.md."""
    if "claims" not in data:
        return ClaimsConfig()
    table = data["claims"]
    if not isinstance(table, dict):
        raise _bad(path, "[claims] must be a table")
    unknown = sorted(set(table) - {"engine", "remote"})
    if unknown:
        raise _bad(path, f"unknown key claims.{unknown[0]}")
    engine = table.get("engine")
    if engine not in CLAIM_ENGINES:
        raise _bad(
            path, 'claims.engine must be "s3" (the [remote] store, S3 or a shared directory) or "git" (a git remote)'
        )
    remote = table.get("remote", "origin")
    if not isinstance(remote, str) or not _GIT_REMOTE_RE.fullmatch(remote) or remote.startswith("-"):
        raise _bad(path, "claims.remote must be the name of a git remote (letters, digits, '.', '_', '-')")
    if "remote" in table and engine != "git":
        raise _bad(path, 'claims.remote names a git remote: it needs engine = "git"')
    return ClaimsConfig(engine=engine, git_remote=remote)


def parse_storage(path: Path, data: dict[str, Any]) -> StorageConfig:
    """``[storage]``: ``chunk_min_size`` (bytes, at least 1 MiB; default 8 MiB)."""
    table = data.get("storage", {})
    if not isinstance(table, dict):
        raise _bad(path, "[storage] must be a table")
    size = table.get("chunk_min_size", DEFAULT_CHUNK_MIN_SIZE)
    if not isinstance(size, int) or isinstance(size, bool) or size < (1 << 20):
        raise _bad(path, "storage.chunk_min_size must be a whole number of bytes, at least 1048576 (1 MiB)")
    unknown = sorted(set(table) - {"chunk_min_size"})
    if unknown:
        raise _bad(path, f"unknown key storage.{unknown[0]}")
    return StorageConfig(chunk_min_size=size)


_ALLOW_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*([.:][A-Za-z_][A-Za-z0-9_.]*)")


def parse_safety(path: Path, data: dict[str, Any]) -> frozenset[str]:
    """``[safety] allow = ["module.Name", ...]``: globals a pickle may import, beyond the built-in list."""
    table = data.get("safety", {})
    if not isinstance(table, dict):
        raise _bad(path, "[safety] must be a table")
    unknown = sorted(set(table) - {"allow"})
    if unknown:
        raise _bad(path, f"unknown key safety.{unknown[0]}")
    allow = table.get("allow", [])
    if not isinstance(allow, list) or not all(isinstance(a, str) and _ALLOW_RE.fullmatch(a) for a in allow):
        raise _bad(path, 'safety.allow must be a list of "module.Name" strings')
    return frozenset(allow)


def parse_signing(path: Path, data: dict[str, Any]) -> str | None:
    """``[signing] allowed_signers = "PATH"``: the ALLOWED SIGNERS file, relative to the registry."""
    table = data.get("signing", {})
    if not isinstance(table, dict):
        raise _bad(path, "[signing] must be a table")
    unknown = sorted(set(table) - {"allowed_signers"})
    if unknown:
        raise _bad(path, f"unknown key signing.{unknown[0]}")
    value = table.get("allowed_signers")
    if value is None:
        return None
    if not isinstance(value, str) or not value or value.startswith("/") or "\\" in value or "\0" in value:
        raise _bad(path, "signing.allowed_signers must be a relative path inside the registry")
    if any(part in ("", ".", "..") for part in value.split("/")):
        raise _bad(path, "signing.allowed_signers must be a relative path inside the registry, without '..'")
    return value
