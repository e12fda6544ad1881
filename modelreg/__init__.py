"""modelreg: a model registry in a directory.

The library never prints; the CLI (``modelreg.cli``) renders what it returns. Names are loaded
lazily so that importing the CLI does not pay for the whole library.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "ConflictError",
    "FileEntry",
    "IntegrityError",
    "ModelregError",
    "NotFoundError",
    "Ref",
    "Registry",
    "UsageError",
    "Version",
    "parse_ref",
]

_LAZY = {
    "Registry": "registry",
    "Version": "records.manifest",
    "FileEntry": "records.manifest",
    "Ref": "records.refs",
    "parse_ref": "records.refs",
    "ModelregError": "errors",
    "UsageError": "errors",
    "NotFoundError": "errors",
    "ConflictError": "errors",
    "IntegrityError": "errors",
}

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing here would slow start-up
if TYPE_CHECKING:
    from .errors import ConflictError, IntegrityError, ModelregError, NotFoundError, UsageError
    from .records.manifest import FileEntry, Version
    from .records.refs import Ref, parse_ref
    from .registry import Registry


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelreg' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{module}", __name__), name)
