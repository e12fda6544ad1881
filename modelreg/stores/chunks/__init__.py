"""Large files as content-defined chunks (format version 2): packs, their indexes, recipes.

``format`` fixes the bytes on disk (and on a remote), ``index`` knows which pack holds which
chunk, ``ingest`` stores a file, ``assemble`` writes one back out verified, ``sweep`` is the
storage half of gc, and ``store.ChunkStore`` ties them together for the blob store.
"""
