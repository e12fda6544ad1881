"""The remote as named objects (packs, their indexes, recipes): what chunked transfers use.

Keys are relative to the remote's root (``packs/<name>.pack``, ``packs/<name>.idx``,
``recipes/<hex>``). Every object there is named by its content, so two writers of one key write
the same bytes and a write needs no lock. Nothing read is trusted: ``read`` never returns more
than the caller's bound, and the caller checks every byte against its name. The interface is
``modelreg.stores.chunks.objects.ObjectStore``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import RemoteStore

if TYPE_CHECKING:
    from modelreg.stores.chunks.objects import ObjectStore


def open_objects(remote: RemoteStore) -> ObjectStore:
    from .directory import DirectoryRemote

    if isinstance(remote, DirectoryRemote):
        from .directory_objects import DirectoryObjects

        return DirectoryObjects(remote)
    from .s3 import S3Remote

    if isinstance(remote, S3Remote):
        from .s3_objects import S3Objects

        return S3Objects(remote)
    raise TypeError(f"no object access for {remote!r}")
