"""Finding the registry a command works on: -R PATH, $MODELREG_REGISTRY, or walking up (to a
registry, or to a project whose pyproject.toml points to its registry: records/pointer.py)."""

from __future__ import annotations

import os
from pathlib import Path

from modelreg.errors import NotFoundError
from modelreg.records.config import CONFIG_NAME
from modelreg.records.pointer import pointed_registry


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
