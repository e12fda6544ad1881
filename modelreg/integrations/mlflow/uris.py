"""The ``modelreg:`` URIs: a registry (``modelreg:///abs/path``, ``modelreg:rel/path``, ``modelreg:``)
and a version's files (``modelreg:///abs/path/models/NAME/versions/N[/sub/path]``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlparse

SCHEME = "modelreg"
# The last "/models/NAME/versions/N" of the path: a registry may itself sit under such a folder.
_VERSION_PATH = re.compile(
    r"^(?P<root>/.*)/models/(?P<name>[a-z0-9][a-z0-9._-]{0,99})/versions/(?P<number>[0-9]{1,7})(?P<rest>/.*)?$"
)


class BadUri(ValueError):
    """A ``modelreg:`` URI this plugin cannot read (the message says why)."""


def registry_path(uri: str) -> Path | None:
    """Where the registry of ``uri`` is; None for ``modelreg:`` alone (found as the CLI finds it:
    ``$MODELREG_REGISTRY``, else walking up from the working directory)."""
    parsed = urlparse(uri)
    if parsed.scheme != SCHEME:
        raise BadUri(f"not a modelreg URI: {uri!r}")
    if parsed.netloc:
        raise BadUri(
            f"{uri!r} names a host ({parsed.netloc}); a modelreg registry is a directory: "
            "modelreg:///absolute/path or modelreg:relative/path"
        )
    if parsed.query or parsed.fragment or parsed.params:
        raise BadUri(f"{uri!r}: a modelreg URI takes no query or fragment")
    path = unquote(parsed.path)
    if not path:
        return None
    return Path(path).absolute()


@dataclass(frozen=True)
class VersionFiles:
    """What a download URI names: a version of a model in a registry, and a path inside its files."""

    root: Path
    name: str
    number: int
    subpath: str  # "" for the whole version


def download_uri(root: Path, name: str, number: int) -> str:
    return f"{SCHEME}://{quote(root.as_posix())}/models/{name}/versions/{number}"


def version_files(uri: str) -> VersionFiles:
    parsed = urlparse(uri)
    if parsed.scheme != SCHEME or parsed.netloc or parsed.query or parsed.fragment:
        raise BadUri(f"not a modelreg download URI: {uri!r}")
    match = _VERSION_PATH.match(unquote(parsed.path))
    if match is None:
        raise BadUri(f"{uri!r} names no version: expected modelreg:///REGISTRY/models/NAME/versions/N")
    rest = (match["rest"] or "").strip("/")
    return VersionFiles(Path(match["root"]), match["name"], int(match["number"]), rest)
