"""A directory remote that holds many chunks besides the ones a test moves: packs made of
sparse files (no bytes on disk) with real, content-named indexes, as another team's pushes
would leave them."""

from __future__ import annotations

import os
from pathlib import Path

from modelreg.stores.chunks.format import encode_index

CHUNK = 64 << 10


def add_other_packs(remote: Path, packs: int, chunks_per_pack: int = 1000) -> int:
    """Add ``packs`` packs of ``chunks_per_pack`` random chunk ids each; returns the chunks added."""
    folder = remote / "packs"
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(packs):
        ids = os.urandom(32 * chunks_per_pack)
        name, index = encode_index([(ids[i : i + 32], CHUNK) for i in range(0, len(ids), 32)])
        with open(folder / f"{name}.pack", "wb") as fh:
            fh.truncate(CHUNK * chunks_per_pack)
        (folder / f"{name}.idx").write_bytes(index)
    return packs * chunks_per_pack
