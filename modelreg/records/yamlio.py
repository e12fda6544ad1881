"""Safe, bounded YAML reading and stable YAML writing (the C implementation when present).

Reading refuses python tags, aliases, merge keys, a key given twice in one mapping, integers
written with more than MAX_INT_CHARS characters and files over 1 MiB; the schemas then refuse any
value a JSON document could not hold, so a standard tag can only ever yield a plain value. The
checks live in the constructor, which is Python code on top of either parser (the C one when
present), so both behave alike.

PyYAML is imported on first use: a read served by the parse cache never needs it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from modelreg.base.fs import read_limited
from modelreg.errors import IntegrityError

MAX_MANIFEST_BYTES = 1 << 20
# No number in a registry file needs more (sizes are below 2**63, versions below 10**7); a longer
# literal costs quadratic time to convert (a base-60 one) or cannot be printed as JSON again.
MAX_INT_CHARS = 100
# What loads() accepts, as a name for the parse cache: bump it when the rules change, so that a
# value parsed under older, looser rules (a duplicate key, say) is never served from the cache.
RULES = "yaml-rules-2"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_INT_TAG = "tag:yaml.org,2002:int"


class YamlError(ValueError):
    """Malformed YAML, or YAML that uses what modelreg refuses (tags, aliases)."""


@cache
def _strict_loader(pure: bool = False) -> Any:
    """The loader modelreg reads with; ``pure`` forces PyYAML's Python parser (for tests)."""
    import yaml
    from yaml.constructor import ConstructorError
    from yaml.nodes import MappingNode

    base: Any = yaml.SafeLoader if pure else getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class StrictLoader(base):  # type: ignore[misc]
        """Safe loader that also refuses aliases (an alias bomb costs nothing), merge keys and
        duplicate keys (both would pick one of two values silently) and overlong integers."""

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            # A node met twice is an alias: modelreg never writes them.
            if node in self.constructed_objects or node in self.recursive_objects:
                raise ConstructorError(None, None, "aliases and anchors are not allowed", node.start_mark)
            return super().construct_object(node, deep)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            if isinstance(node, MappingNode):
                for key_node, _ in node.value:
                    if key_node.tag == _MERGE_TAG:
                        raise ConstructorError(None, None, "merge keys ('<<') are not allowed", key_node.start_mark)
            mapping = super().construct_mapping(node, deep)
            if isinstance(node, MappingNode) and len(mapping) != len(node.value):
                seen: set[Any] = set()
                for key_node, _ in node.value:
                    key = self.constructed_objects.get(key_node)
                    if key in seen:
                        raise ConstructorError(None, None, f"key {repr(key)[:60]} appears twice", key_node.start_mark)
                    seen.add(key)
                raise ConstructorError(None, None, "a key appears twice", node.start_mark)
            return mapping

        def construct_bounded_int(self, node: Any) -> Any:
            text = self.construct_scalar(node)
            if len(text) > MAX_INT_CHARS:
                raise ConstructorError(
                    None, None, f"an integer of {len(text)} characters (at most {MAX_INT_CHARS})", node.start_mark
                )
            return self.construct_yaml_int(node)

    StrictLoader.add_constructor(_INT_TAG, StrictLoader.construct_bounded_int)
    return StrictLoader


def _detail(exc: Exception) -> str:
    problem = getattr(exc, "problem", None) or (str(exc).splitlines() or [type(exc).__name__])[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} (line {mark.line + 1})" if mark is not None else str(problem)


def loads(text: str | bytes, *, pure: bool = False) -> Any:
    import yaml

    try:
        return yaml.load(text, Loader=_strict_loader(pure))
    except yaml.YAMLError as exc:
        raise YamlError(_detail(exc)) from None
    except RecursionError:  # the pure-Python loader on deeply nested input
        raise YamlError("nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:
        # A standard tag whose constructor fails: a date like 2026-13-45, an integer over
        # Python's digit limit, a base-60 float out of range.
        raise YamlError(
            f"a value cannot be read: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


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
        return load_cached(raw, loads, cache_dir / RULES if cache_dir is not None else None)
    except YamlError as exc:
        raise IntegrityError(f"{path}: malformed {what}: {exc}", code="corrupt_manifest") from None
