"""Safe, bounded YAML reading and stable YAML writing (the C implementation when present).

Reading refuses python tags, aliases and files over 1 MiB; the schemas then refuse any value a
JSON document could not hold, so a standard tag can only ever yield a plain value.

PyYAML is imported on first use: a read served by the parse cache never needs it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from modelreg.base.fs import read_limited
from modelreg.errors import IntegrityError

MAX_MANIFEST_BYTES = 1 << 20


class YamlError(ValueError):
    """Malformed YAML, or YAML that uses what modelreg refuses (tags, aliases)."""


@cache
def _strict_loader() -> Any:
    import yaml

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictLoader(base):  # type: ignore[misc]
        """Safe loader that also refuses aliases, so an alias bomb costs nothing."""

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            # A node met twice is an alias: modelreg never writes them.
            if node in self.constructed_objects or node in self.recursive_objects:
                raise yaml.constructor.ConstructorError(
                    None, None, "aliases and anchors are not allowed", node.start_mark
                )
            return super().construct_object(node, deep)

    return StrictLoader


def loads(text: str | bytes) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_strict_loader())
    except yaml.YAMLError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise YamlError(detail) from None
    except RecursionError:  # the pure-Python loader on deeply nested input
        raise YamlError("nested too deeply") from None


def dumps(data: Any) -> str:
    import yaml

    dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def load_file(path: Path, *, what: str = "manifest", cache_dir: Path | None = None) -> Any:
    """Parse a registry YAML file; anything unreadable is an integrity failure naming the file."""
    from modelreg.records.parsecache import load_cached

    try:
        raw = read_limited(path, MAX_MANIFEST_BYTES)
    except OverflowError:
        raise IntegrityError(
            f"{path}: {what} is larger than {MAX_MANIFEST_BYTES} bytes; refusing to read it",
            code="corrupt_manifest",
        ) from None
    try:
        return load_cached(raw, loads, cache_dir)
    except YamlError as exc:
        raise IntegrityError(f"{path}: malformed {what}: {exc}", code="corrupt_manifest") from None
