"""Names from another registry made into modelreg names: models, aliases and keys.

Other registries allow what modelreg refuses (uppercase, spaces, 250-character keys). A name is
normalised the same way every time, so a second import finds what the first one made.
"""

from __future__ import annotations

import re

from modelreg.records.names import is_valid_name

_NOT_NAME = re.compile(r"[^a-z0-9._-]+")
_NOT_KEY = re.compile(r"[^A-Za-z0-9_.:/-]")
_KEY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}")


def model_name(text: str) -> str | None:
    """Lowercase, every run of other characters made one ``-``, leading punctuation dropped,
    at most 100 characters; None when nothing usable is left."""
    name = _NOT_NAME.sub("-", text.strip().lower()).lstrip("._-")[:100].rstrip("-")
    return name if is_valid_name(name) else None


def alias_name(text: str, stages: tuple[str, ...]) -> tuple[str | None, str]:
    """The alias as modelreg may hold it, or None and why not."""
    alias = model_name(text)
    if alias is None:
        return None, "it cannot be made a modelreg alias (lowercase letters, digits, '.', '_', '-')"
    if alias in stages:
        return None, f"it names a stage of this registry ({alias})"
    if alias == "latest" or alias.isdigit():
        return None, "'latest' and numbers are references, not aliases, in modelreg"
    return alias, ""


def key(text: str) -> str | None:
    """A metric, param or tag key: other characters (a space, most often) become ``_``."""
    fixed = _NOT_KEY.sub("_", text)[:128]
    if fixed and not _KEY_RE.fullmatch(fixed):
        fixed = ("_" + fixed)[:128]
    return fixed if _KEY_RE.fullmatch(fixed) else None
