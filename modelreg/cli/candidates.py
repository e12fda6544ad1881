"""What each kind of argument completes to, read from the registry at each TAB.

Nothing here imports Typer, rich or YAML on the way (model files are read through the parse
cache); nothing inside the registry is followed through a symlink.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from ..records.pointer import pointed_registry

SHELLS = ("bash", "zsh", "fish")
CONFIG_NAME = "modelreg.toml"


def find_registry(given: str | None, env: Mapping[str, str]) -> Path | None:
    """-R as typed, else $MODELREG_REGISTRY, else walking up from here (as every command does)."""
    explicit = given or env.get("MODELREG_REGISTRY")
    if explicit:
        path = Path(os.path.expanduser(explicit))
        return path if (path / CONFIG_NAME).is_file() else None
    here = Path.cwd()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate
        try:
            pointed = pointed_registry(candidate)
        except Exception:  # a bad pointer: the command says why; a TAB offers nothing
            return None
        if pointed is not None:
            return pointed
    return None


def model_names(root: Path) -> list[str]:
    from ..records.names import is_valid_name

    models = root / "models"
    if os.path.islink(models):
        return []  # nothing inside a registry is followed through a link
    try:
        entries = list(os.scandir(models))
    except OSError:
        return []
    return sorted(
        e.name
        for e in entries
        if is_valid_name(e.name) and e.is_dir(follow_symlinks=False) and os.path.isfile(Path(e.path) / "model.yaml")
    )


def _parse_cache(root: Path) -> Path | None:
    cache = root / ".modelreg" / "cache" / "parsed"
    return None if any(os.path.islink(p) for p in (cache.parent.parent, cache.parent, cache)) else cache


def stages(root: Path | None) -> list[str]:
    from ..records.config import DEFAULT_STAGES

    if root is None:
        return list(DEFAULT_STAGES)
    try:
        from ..records.config import load_config

        return list(load_config(root / CONFIG_NAME, _parse_cache(root)).stages)
    except Exception:  # a TAB never fails loudly
        return list(DEFAULT_STAGES)


def environments(root: Path | None) -> list[str]:
    """The environments ``modelreg.toml`` gives rules for, and those any model is deployed to."""
    from ..records.names import is_valid_name

    if root is None:
        return []
    found: set[str] = set()
    try:
        from ..records.config import load_config

        found.update(load_config(root / CONFIG_NAME, _parse_cache(root)).policy.environments)
    except Exception:  # a TAB never fails loudly
        pass
    for name in model_names(root):
        envs = _model_file(root, name, "deployments.yaml").get("deployments")
        if isinstance(envs, dict):
            found.update(e for e in envs if isinstance(e, str) and is_valid_name(e))
    return sorted(found)


def _model_file(root: Path, name: str, file: str) -> dict[str, object]:
    """One of a model's small YAML files, through the parse cache ({} when absent or unreadable)."""
    from ..records.names import is_valid_name
    from ..records.yamlio import load_file

    path = root / "models" / name / file
    if not is_valid_name(name) or os.path.islink(root / "models") or os.path.islink(path.parent):
        return {}
    if os.path.islink(path) or not os.path.isfile(path):
        return {}
    try:
        data = load_file(path, what=file, cache_dir=_parse_cache(root))
    except Exception:
        return {}
    return data if isinstance(data, dict) else {}


def latest_version(root: Path, name: str) -> int:
    latest = _model_file(root, name, "model.yaml").get("latest_version")
    return latest if isinstance(latest, int) and not isinstance(latest, bool) and latest > 0 else 0


def aliases(root: Path, name: str) -> list[str]:
    """The model's alias names (``models/NAME/aliases.yaml``)."""
    from ..records.names import is_valid_name

    found = _model_file(root, name, "aliases.yaml").get("aliases")
    return sorted(a for a in found if isinstance(a, str) and is_valid_name(a)) if isinstance(found, dict) else []


def references(root: Path | None, name: str) -> list[str]:
    """What may follow ``NAME@``: the newest versions first, ``latest``, the stages, the aliases."""
    if root is None:
        return ["latest", *stages(None)]
    numbers = [str(n) for n in range(latest_version(root, name), 0, -1)]
    return [*numbers, "latest", *stages(root), *aliases(root, name)]


def _refs(root: Path | None, incomplete: str) -> list[str]:
    name, at, _ = incomplete.partition("@")
    if at:
        return [f"{name}@{r}" for r in references(root, name)]
    return model_names(root) if root is not None else []


def _second_ref(root: Path | None, incomplete: str, positional: list[str]) -> list[str]:
    """``diff A B``: B is NAME@REF, or a bare reference of A's model."""
    if "@" in incomplete or not positional:
        return _refs(root, incomplete)
    model = positional[0].partition("@")[0]
    first = positional[0].partition("@")[2]
    bare = [r for r in references(root, model) if r != first]
    return [*bare, *(model_names(root) if root is not None else [])]


def candidates(kind: str | None, incomplete: str, root: Path | None, positional: list[str]) -> list[str]:
    answers: dict[str, Callable[[], Iterable[str]]] = {
        "model": lambda: model_names(root) if root is not None else [],
        "ref": lambda: _refs(root, incomplete),
        "second_ref": lambda: _second_ref(root, incomplete, positional),
        "stage": lambda: stages(root),
        "alias": lambda: aliases(root, positional[0].partition("@")[0]) if root is not None and positional else [],
        "shell": lambda: SHELLS,
        "env": lambda: environments(root),
    }
    answer = answers.get(kind or "")
    if answer is None:
        return []  # a path or free text: the shell completes file names
    return [value for value in answer() if value.startswith(incomplete)]
