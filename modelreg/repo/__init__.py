"""The registry directory: locating it, its paths, locks and records, and committing changes."""

from __future__ import annotations

from .locate import find_root
from .repo import LOG_NAME, Repo

__all__ = ["LOG_NAME", "Repo", "find_root"]
