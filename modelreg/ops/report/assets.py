"""The site's own assets (stylesheet, script, icon), shipped as package data beside this module."""

from __future__ import annotations

from importlib.resources import files

_NAMES = ("style.css", "table.js", "icon.svg")


def _load() -> dict[str, bytes]:
    folder = files(__package__ or "modelreg.ops.report") / "static"
    return {f"assets/{name}": (folder / name).read_bytes() for name in _NAMES}


ASSETS = _load()
