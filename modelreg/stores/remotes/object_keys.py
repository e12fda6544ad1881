"""Keys of the chunk store's objects on a remote, and names for corrupt ones set aside."""

from __future__ import annotations

import re

from modelreg.base.fs import aside_name
from modelreg.errors import IntegrityError

from .base import QUARANTINE

_KEY_RE = re.compile(r"(packs/[0-9a-f]{64}\.(pack|idx)|(recipes|locators)/[0-9a-f]{64})")


def check_key(key: str) -> str:
    if not _KEY_RE.fullmatch(key):
        raise IntegrityError(f"not an object key of a chunk store: {key!r}", code="invalid_digest")
    return key


def quarantine_name(key: str) -> str:
    return f"{QUARANTINE}/{aside_name(key.replace('/', '.'))}"


def too_large(key: str, where: str, limit: int) -> IntegrityError:
    return IntegrityError(
        f"the object {key} on the remote {where} is larger than it can be ({limit} bytes at most); "
        "it was not read further",
        code="remote_corrupt",
    )
