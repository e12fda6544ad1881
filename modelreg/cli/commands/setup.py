"""init and completion: setting up a registry and a shell."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..group import command
from ..options import JsonOpt, QuietOpt, RegistryOpt, complete_shell
from ..output import Output, guard


@command(library="Registry.init")
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
        result = Registry.init(target)
        created = result.created
        data = result.to_json()
        where = _shell_word(data["path"])
        text = (
            f"{'Created' if created else 'Already a'} registry at {data['path']}\n"
            f"Commands run inside it find it; from anywhere else use -R {where} or MODELREG_REGISTRY={where}"
        )
        pointer = _project_pointer(result.registry.root)
        if pointer:
            text += f"\nSo that commands run anywhere in the project find it, add to its pyproject.toml:\n{pointer}"
        out.result(data, lambda o: o.line(text))


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


@command(library="completion_script")
def completion(
    shell: Annotated[str, typer.Argument(help="bash, zsh or fish.", autocompletion=complete_shell)],
    json: JsonOpt = False,
) -> None:
    """Print the shell completion script (the same as the files in completions/); it calls back
    into modelreg at each TAB for commands, options, models, versions and stages."""
    out = Output(json)
    with guard(out):
        from ..completion_script import completion_script

        result = completion_script(shell)
        out.result(result.to_json(), lambda o: o.line(result.script.rstrip("\n")))
