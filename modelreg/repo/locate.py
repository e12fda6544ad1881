"""Finding the registry a command works on: -R PATH, $MODELREG_REGISTRY, or walking up (to a
registry, or to a project whose pyproject.toml points to its registry: records/pointer.py)."""

from __future__ import annotations

import os
from pathlib import Path

from modelreg.errors import ConflictError, NotFoundError, UsageError
from modelreg.records.config import CONFIG_NAME
from modelreg.records.pointer import pointed_registry

POINTER = "published.json"  # a publication's pointer (repo/published.py), written last by push


def is_published_url(text: str) -> bool:
    return text.startswith("s3://")


def find_root(explicit: Path | None = None, start: Path | None = None) -> Path:
    """-R PATH, else $MODELREG_REGISTRY, else walk up from the working directory."""
    if explicit is None and os.environ.get("MODELREG_REGISTRY"):
        explicit = Path(os.environ["MODELREG_REGISTRY"])
    if explicit is not None:
        if (explicit / CONFIG_NAME).is_file():
            return explicit
        raise NotFoundError(
            f"no registry at {explicit} (no {CONFIG_NAME}); create one with: modelreg init {explicit}",
            code="no_registry",
        )
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
        pointed = pointed_registry(candidate)
        if pointed is not None:
            return pointed
    raise NotFoundError(
        f"no registry found in {here} or its parents; create one with: modelreg init, "
        'or point to one with -R PATH, MODELREG_REGISTRY or [tool.modelreg] registry = "DIR" in pyproject.toml',
        code="no_registry",
    )


def published_location(explicit: str | None) -> str | None:
    """The published registry that ``-R`` (else $MODELREG_REGISTRY) names, or None for a
    registry directory: an ``s3://`` URL, or a directory holding a publication and no registry."""
    text = explicit if explicit is not None else os.environ.get("MODELREG_REGISTRY") or None
    if text is None:
        return None
    if text.startswith("s3:/") and not text.startswith("s3://"):
        text = "s3://" + text[len("s3:/") :]  # a URL that went through pathlib lost one slash
    if is_published_url(text):
        if not text[len("s3://") :].partition("/")[0]:
            raise UsageError(f"{text!r} names no bucket: write s3://bucket/prefix")
        return text.rstrip("/")
    folder = Path(text)
    # lexists: a pointer that is a link or a FIFO is a broken publication (exit 5), not "no registry"
    if not (folder / CONFIG_NAME).exists() and os.path.lexists(folder / POINTER):
        return str(folder.absolute())
    return None


def read_only_error(url: str) -> ConflictError:
    return ConflictError(
        f"{url} is a published registry, read-only: make changes in a clone of the registry and run 'modelreg push'",
        code="read_only",
    )
