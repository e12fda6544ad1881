"""Fetching one blob from a remote into the local store: never more than its recorded size,
verified against its digest, and, when the remote's object proves corrupt, moved aside there so
that the next push from a machine with a good copy repairs it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from modelreg.base.progress import Progress
from modelreg.errors import IntegrityError, ModelregError

from .base import RemoteStore, quarantined

if TYPE_CHECKING:
    from modelreg.stores.blobs import LocalBlobStore


def fetch_blob(
    remote: RemoteStore, store: LocalBlobStore, digest: str, size: int, progress: Progress | None = None
) -> None:
    """Download blob ``digest`` (``size`` bytes by its manifest) from ``remote`` into ``store``."""
    read_whole = False

    def fetch(tmp: Path) -> None:
        nonlocal read_whole
        remote.download(digest, tmp, size, progress)
        read_whole = True

    try:
        store.put_download(digest, size, fetch)
    except IntegrityError as exc:
        if not (read_whole and exc.code == "digest_mismatch"):
            raise
        # The whole object was read (a download never takes more than `size` bytes) and it does
        # not hash to its own name: provably corrupt, whatever the manifest says.
        try:
            place = remote.quarantine(digest)
        except ModelregError as failed:
            raise IntegrityError(
                f"blob {digest} fetched from the remote {remote.url} does not match its digest, and moving the "
                f"corrupt object aside failed ({failed.message}); a 'modelreg push' from a machine with a good "
                "copy repairs the remote",
                code="digest_mismatch",
            ) from exc
        if place is None:
            raise IntegrityError(
                f"blob {digest} fetched from the remote {remote.url} does not match its digest, and the object "
                "changed there since it was read (a push repairing it?): run the command again",
                code="digest_mismatch",
            ) from exc
        raise quarantined(digest, remote.url, place) from exc
