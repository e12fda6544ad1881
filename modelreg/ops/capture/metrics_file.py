"""``register --metrics-file``: a JSON or YAML mapping of metric names to numbers.

The file is the user's (it may be a symlink), but it must be a regular file of at most
``MAX_METRICS_BYTES``: a FIFO or a device (``/dev/zero``) is refused before a byte is read, and
no more than the cap plus one byte is ever read.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from modelreg.errors import UsageError
from modelreg.records.names import parse_number, validate_key
from modelreg.records.yamlio import MAX_MANIFEST_BYTES

MAX_METRICS_BYTES = MAX_MANIFEST_BYTES


def _read_bounded(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not block the open
    except OSError as exc:
        why = exc.strerror or str(exc)
        code = "missing_input" if exc.errno in (errno.ENOENT, errno.ENOTDIR) else "invalid_input"
        raise UsageError(f"cannot read metrics file {path}: {why}", code=code) from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"metrics file {path} is not a regular file", code="invalid_input")
        if st.st_size > MAX_METRICS_BYTES:
            raise UsageError(f"metrics file {path} is larger than {MAX_METRICS_BYTES} bytes", code="invalid_input")
        os.set_blocking(fd, True)
        try:
            raw = fh.read(MAX_METRICS_BYTES + 1)
        except OSError as exc:
            raise UsageError(f"cannot read metrics file {path}: {exc.strerror or exc}", code="invalid_input") from None
    if len(raw) > MAX_METRICS_BYTES:  # grew while being read
        raise UsageError(f"metrics file {path} is larger than {MAX_METRICS_BYTES} bytes", code="invalid_input")
    return raw


def read_metrics_file(path: Path) -> dict[str, int | float]:
    raw = _read_bounded(path)
    try:
        data = json.loads(raw, object_pairs_hook=lambda items: _unique(path, items))
    except UsageError:
        raise
    except ValueError:
        from modelreg.records import yamlio

        try:
            data = yamlio.loads(raw)
        except Exception as exc:  # YamlError (a key given twice included) and anything odd
            raise UsageError(f"metrics file {path} is neither valid JSON nor valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"metrics file {path} must hold a mapping of metric names to numbers")
    metrics: dict[str, int | float] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise UsageError(f"metrics file {path}: metric names must be strings, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise UsageError(f"metrics file {path}: metric {key!r} must be a number, got {value!r}")
        metrics[validate_key(key, "metric")] = parse_number(key, str(value))
    return metrics


def _unique(path: Path, items: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in items:
        if key in seen:
            raise UsageError(f"metrics file {path} gives metric {key!r} twice", code="duplicate_key")
        seen[key] = value
    return seen
