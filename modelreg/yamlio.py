"""Safe, bounded YAML reading and stable YAML writing (the C implementation when present)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import IntegrityError
from .fsutil import read_limited

MAX_MANIFEST_BYTES = 1 << 20

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _StrictLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Safe loader that also refuses aliases, so an alias bomb costs nothing."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        # A node met twice is an alias: modelreg never writes them.
        if node in self.constructed_objects or node in self.recursive_objects:
            raise yaml.constructor.ConstructorError(None, None, "aliases and anchors are not allowed", node.start_mark)
        return super().construct_object(node, deep)


def loads(text: str | bytes) -> Any:
    return yaml.load(text, Loader=_StrictLoader)


def dumps(data: Any) -> str:
    return yaml.dump(data, Dumper=_BaseDumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def load_file(path: Path, *, what: str = "manifest") -> Any:
    """Parse a registry YAML file; anything unreadable is an integrity failure naming the file."""
    try:
        raw = read_limited(path, MAX_MANIFEST_BYTES)
    except OverflowError:
        raise IntegrityError(
            f"{path}: {what} is larger than {MAX_MANIFEST_BYTES} bytes; refusing to read it",
            code="corrupt_manifest",
        ) from None
    try:
        return loads(raw)
    except yaml.YAMLError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IntegrityError(f"{path}: malformed {what}: {detail}", code="corrupt_manifest") from None
