"""A content-addressed cache of parsed registry files.

Parsing is a pure function of a file's bytes, so the parsed value can be kept under a hash of
those bytes: a hit needs only the file read, a hash and ``marshal.loads``, which spares a
``get-production`` the import of the YAML and TOML parsers. The cache lives in the git-ignored
``.modelreg/cache/parsed`` and is always safe to delete.

``.modelreg/`` may arrive from someone else (a committed cache, an archive), and ``marshal`` must
never read untrusted bytes: an entry counts only if it carries this machine's MAC
(``modelreg.base.machine``), bound to the hash of the source bytes it was parsed from.
"""

from __future__ import annotations

import hashlib
import marshal
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from modelreg.base.fs import atomic_write, read_own
from modelreg.base.machine import seal, unseal
from modelreg.errors import StorageError

_PURPOSE = b"modelreg parse cache v1"
ENTRY_LIMIT = 16 << 20  # the parse of a file under the 1 MiB read limit


def load_cached(raw: bytes, parse: Callable[[bytes], Any], cache_dir: Path | None) -> Any:
    if cache_dir is None:
        return parse(raw)
    digest = hashlib.blake2b(raw, digest_size=16).digest()
    key = digest.hex()
    entry = cache_dir / key[:2] / key
    raw_entry = read_own(entry, ENTRY_LIMIT)
    if raw_entry is not None:
        data = unseal(raw_entry, _PURPOSE)
        if data is not None and data[: len(digest)] == digest:
            with suppress(ValueError, EOFError, TypeError):
                return marshal.loads(data[len(digest) :])
    value = parse(raw)
    # Only plain values are cached (a hand-written YAML timestamp, say, is parsed each time).
    with suppress(OSError, ValueError, StorageError):  # a read-only registry is read the slow way
        sealed = seal(digest + marshal.dumps(value), _PURPOSE)
        if sealed is not None:
            atomic_write(entry, sealed, durable=False)
    return value
