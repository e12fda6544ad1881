"""A content-addressed cache of parsed registry files.

Parsing is a pure function of a file's bytes, so the parsed value can be kept under a hash of
those bytes: a hit needs only the file read, a hash and ``marshal.loads``, which spares a
``get-production`` the import of the YAML and TOML parsers. The cache lives in the git-ignored
``.modelreg/cache/parsed`` and is always safe to delete.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from modelreg.base.fs import atomic_write


def load_cached(raw: bytes, parse: Callable[[bytes], Any], cache_dir: Path | None) -> Any:
    if cache_dir is None:
        return parse(raw)
    key = hashlib.blake2b(raw, digest_size=16).hexdigest()
    entry = cache_dir / key[:2] / key
    try:
        return marshal.loads(entry.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        pass
    value = parse(raw)
    # Only plain values are cached (a hand-written YAML timestamp, say, is parsed each time).
    with suppress(OSError, ValueError):
        atomic_write(entry, marshal.dumps(value), durable=False)
    return value
