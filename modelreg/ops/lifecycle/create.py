"""``init``: create a registry directory (on an existing one, change nothing)."""

from __future__ import annotations

import os
from pathlib import Path

from modelreg.base.fs import atomic_write, read_limited
from modelreg.errors import IntegrityError, UsageError
from modelreg.ops.changes import record
from modelreg.records.config import CONFIG_NAME, Config, default_toml
from modelreg.repo import Repo

# ``*.mrtmp``: what a write killed half-way leaves (recovery and gc clean it; git must not carry it).
GITIGNORE = "# modelreg: model bytes live in blobs/ and travel through the remote store\nblobs/\n.modelreg/\n*.mrtmp\n"
GITATTRIBUTES = "# modelreg: both branches' audit entries survive a merge\naudit.jsonl merge=union\n"


def create(path: Path, *, actor: str | None = None) -> bool:
    """Create a registry at ``path``; True if it was created, False if one was already there."""
    if (path / CONFIG_NAME).is_file():
        return False
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} exists and is not a directory", code="invalid_input")
    import tomli_w

    path.mkdir(parents=True, exist_ok=True)
    _refuse_links(path)
    repo = Repo(path, Config())
    # Under the audit lock: of several inits racing on one directory, exactly one creates it.
    with repo.audit_lock():
        if (path / CONFIG_NAME).is_file():
            return False
        for name, text in ((".gitignore", GITIGNORE), (".gitattributes", GITATTRIBUTES)):
            target = path / name
            if not target.exists():
                atomic_write(target, text.encode())
            elif text.splitlines()[1] not in _read_text(target).splitlines():
                fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK)
                with os.fdopen(fd, "a", encoding="utf-8") as fh:
                    fh.write("\n" + text)
        (path / "models").mkdir(exist_ok=True)
        (path / "models" / ".keep").touch()
        repo.audit.append([record("init", None, None, actor=actor)])
        # The config marks a registry: written last, so a killed init is simply done again.
        atomic_write(path / CONFIG_NAME, tomli_w.dumps(default_toml()).encode())
    return True


# What init writes into; a link among them would carry its writes out of the registry.
_OWN = (".gitignore", ".gitattributes", "models", "blobs", ".modelreg", "audit.jsonl", CONFIG_NAME)


def _refuse_links(path: Path) -> None:
    for name in _OWN:
        if (path / name).is_symlink():
            raise UsageError(
                f"{path / name} is a symbolic link: modelreg never writes through links inside a registry; "
                "remove it and run init again",
                code="invalid_input",
            )


def _read_text(target: Path) -> str:
    try:
        return read_limited(target, 1 << 20).decode(errors="replace")
    except (OverflowError, IntegrityError):
        raise UsageError(f"{target} is not a small regular file; init leaves it alone", code="invalid_input") from None


# A registry's own folders: a registry created inside one of them would corrupt it.
OWN_FOLDERS = ("models", "blobs", ".modelreg")


def check_place(target: Path) -> list[str]:
    """Refuse a registry inside another's own folders; the warnings a person should read about
    registries around ``target`` (commands below it would find the new one, not the old)."""
    enclosing, inner = _registries_near(target)
    warnings = []
    if enclosing is not None:
        rel = target.resolve().relative_to(enclosing).parts
        if rel and rel[0] in OWN_FOLDERS:
            raise UsageError(
                f"{target} is inside {rel[0]}/ of the registry at {enclosing}: a registry there would "
                "corrupt it; choose a directory outside it",
                code="nested_registry",
            )
        warnings.append(
            f"{target} is inside the registry at {enclosing}: commands run below {target} will use the new "
            f"registry, commands elsewhere in {enclosing} the old one"
        )
    for found in inner:
        warnings.append(f"a registry already exists at {found}: commands run inside it use that one, not this one")
    return warnings


def _registries_near(target: Path, depth: int = 3, budget: int = 2000) -> tuple[Path | None, list[Path]]:
    """The registry ``target`` would sit inside, and the registries already below it (a bounded look)."""
    here = target.resolve()
    if (here / CONFIG_NAME).is_file():
        return None, []  # init on a registry changes nothing
    enclosing = next((p for p in here.parents if (p / CONFIG_NAME).is_file()), None)
    inner: list[Path] = []
    if not here.is_dir():
        return enclosing, inner
    level = [here]
    for _ in range(depth):
        below = []
        for folder in level:
            try:
                entries = sorted(os.scandir(folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                budget -= 1
                if budget < 0:
                    return enclosing, inner
                if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                    continue
                if os.path.isfile(os.path.join(entry.path, CONFIG_NAME)):
                    inner.append(Path(entry.path))
                elif entry.name != "node_modules":
                    below.append(Path(entry.path))
        level = below
    return enclosing, inner
