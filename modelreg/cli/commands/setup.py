"""init and completion: setting up a registry and a shell."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ..group import command
from ..options import JsonOpt, QuietOpt, RegistryOpt, complete_shell
from ..output import Output, guard

CONFIG_NAME = "modelreg.toml"
# A registry's own folders: a registry created inside one of them would corrupt it.
OWN_FOLDERS = ("models", "blobs", ".modelreg")


@command()
def init(
    path: Annotated[
        Path | None, typer.Argument(help="Directory to create the registry in (default: -R, else here).")
    ] = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Create a registry (running it again on a registry changes nothing).

    On an existing registry it changes nothing and succeeds ("changed": false). Inside another registry, or above
    one, it warns and names it; inside another registry's models/, blobs/ or .modelreg/ it refuses (exit 2). It says
    how commands will find the registry.
    """
    out = Output(json, quiet)
    with guard(out):
        from ...errors import UsageError
        from ...registry import Registry

        if path is not None and registry is not None and path.resolve() != registry.resolve():
            raise UsageError(f"init got two places: {path} and -R {registry}; give one", code="usage")
        target = path or registry or Path(".")
        enclosing, inner = _registries_near(target)
        if enclosing is not None:
            rel = target.resolve().relative_to(enclosing).parts
            if rel and rel[0] in OWN_FOLDERS:
                raise UsageError(
                    f"{target} is inside {rel[0]}/ of the registry at {enclosing}: a registry there would "
                    "corrupt it; choose a directory outside it",
                    code="nested_registry",
                )
            out.warn(
                f"{target} is inside the registry at {enclosing}: commands run below {target} will use the new "
                f"registry, commands elsewhere in {enclosing} the old one"
            )
        for found in inner:
            out.warn(f"a registry already exists at {found}: commands run inside it use that one, not this one")
        reg, created = Registry.init(target)
        root = str(reg.root.resolve())
        where = _shell_word(root)
        text = (
            f"{'Created' if created else 'Already a'} registry at {root}\n"
            f"Commands run inside it find it; from anywhere else use -R {where} or MODELREG_REGISTRY={where}"
        )
        pointer = _project_pointer(reg.root)
        if pointer:
            text += f"\nSo that commands run anywhere in the project find it, add to its pyproject.toml:\n{pointer}"
        out.result({"path": root, "created": created, "changed": created}, lambda o: o.line(text))


def _project_pointer(root: Path) -> str | None:
    """The pointer a project above the registry would need (none when it has one already)."""
    from ...records.pointer import pointed_registry, pointer_text

    for project in root.resolve().parents:
        if (project / "pyproject.toml").is_file() or (project / ".git").exists():
            try:
                if pointed_registry(project) is not None:
                    return None
            except Exception:  # a broken pointer: the hint below is what fixes it
                pass
            return pointer_text(project, root)
    return None


def _shell_word(text: str) -> str:
    import shlex

    return shlex.quote(text)


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


SHELLS = ("bash", "zsh", "fish")


@command()
def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.", autocompletion=complete_shell)],
    json: JsonOpt = False,
) -> None:
    """Print the shell completion script (the same as the files in completions/); it calls back
    into modelreg at each TAB for commands, options, models, versions and stages."""
    out = Output(json)
    with guard(out):
        from typer._completion_shared import get_completion_script

        if shell not in SHELLS:
            from ...errors import UsageError

            raise UsageError(f"unknown shell {shell!r}; choose one of: {', '.join(SHELLS)}")
        if shell == "bash":
            from ..complete import BASH_SCRIPT as script
        else:
            script = get_completion_script(prog_name="modelreg", complete_var="_MODELREG_COMPLETE", shell=shell)
        out.result({"shell": shell, "script": script}, lambda o: o.line(script.rstrip("\n")))
        _warm_completion_cache()


def _warm_completion_cache() -> None:
    """Whoever installs the script is about to press TAB: have the first one answer fast too."""
    try:
        from ..complete import save_spec
        from ..completion_spec import build_spec

        save_spec(build_spec())
    except Exception:  # never worth failing the command for
        pass
