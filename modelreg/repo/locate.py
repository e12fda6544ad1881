"""Finding the registry a command works on: -R PATH, $MODELREG_REGISTRY, or walking up."""

from __future__ import annotations

import os
from pathlib import Path

from modelreg.errors import NotFoundError
from modelreg.records.config import CONFIG_NAME


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
    raise NotFoundError(
        f"no registry found in {here} or its parents; create one with: modelreg init, "
        "or point to one with -R PATH or MODELREG_REGISTRY",
        code="no_registry",
    )
