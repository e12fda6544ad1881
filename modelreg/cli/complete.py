"""Answering a shell's TAB fast: no Typer, no rich, no YAML on the way (the parse cache serves).

The scripts in ``completions/`` run ``modelreg`` with ``_MODELREG_COMPLETE=complete_SHELL`` and
the words typed so far. Building the Typer app to answer costs about half a second, so the
shape of the command line (commands, options, which argument completes what) is read from a
spec that ``completion_spec.py`` derives from the app once and keeps in the user's cache
directory, keyed by the modelreg version and the CLI's source files: a new command, or any
change to one, is picked up by the next TAB without anyone regenerating anything. Model names,
versions and stages are read from the registry at each TAB.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .candidates import SHELLS, candidates, find_registry

Item = tuple[str, str]  # a completion and its help text


# -- the spec: the command line's shape, cached per version of the CLI ----------------------------


def _fingerprint() -> str:
    from .. import __version__

    here = Path(__file__).parent
    parts = [__version__]
    for folder in (here, here / "commands"):
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".py"):
                st = entry.stat()
                parts.append(f"{folder.name}/{entry.name}:{st.st_size}:{st.st_mtime_ns}")
    return "|".join(parts)


def _spec_path() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "modelreg" / "completion-spec.json"


def load_spec() -> dict[str, Any]:
    """The cached spec if it was made from this very CLI, else a fresh one (cached when possible)."""
    key = _fingerprint()
    try:
        cached = json.loads(_spec_path().read_bytes())
        if isinstance(cached, dict) and cached.get("key") == key and isinstance(cached.get("spec"), dict):
            spec: dict[str, Any] = cached["spec"]
            return spec
    except (OSError, ValueError):
        pass
    from .completion_spec import build_spec

    spec = build_spec()
    save_spec(spec, key)
    return spec


def save_spec(spec: dict[str, Any], key: str | None = None) -> None:
    path = _spec_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"key": key or _fingerprint(), "spec": spec}))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: every TAB builds the spec again, slower but right


# bash's script is modelreg's own: the line up to the cursor goes whole to modelreg, since the
# COMP_WORDS bash builds are cut at COMP_WORDBREAKS (``@`` and ``:`` among them), which a
# NAME@REF would not survive; the answers are what readline replaces, after the last break.
BASH_SCRIPT = """\
_modelreg_completion() {
    mapfile -t COMPREPLY < <(env COMP_LINE="${COMP_LINE:0:COMP_POINT}" COMP_WORDBREAKS="$COMP_WORDBREAKS" \\
                                 _MODELREG_COMPLETE=complete_bash "$1" 2>/dev/null)
    return 0
}

complete -o default -F _modelreg_completion modelreg
"""


# -- reading the command line -----------------------------------------------------------------------


def complete_words(spec: dict[str, Any], args: list[str], incomplete: str, env: Mapping[str, str]) -> list[Item]:
    """The completions for ``incomplete`` after ``args`` (the words typed after ``modelreg``)."""
    options: dict[str, Any] = spec["root"]["options"]
    command: dict[str, Any] | None = None
    registry: str | None = None
    positional: list[str] = []
    pending: dict[str, Any] | None = None  # an option whose value is being typed
    only_positional = False
    for word in args:
        if pending is not None:
            if pending.get("registry"):
                registry = word
            pending = None
            continue
        if not only_positional and word == "--":
            only_positional = True
            continue
        if not only_positional and word.startswith("-") and word != "-":
            name, eq, _ = word.partition("=")
            entry = options.get(name)
            if entry is not None and not entry["flag"] and not eq:
                pending = entry
            elif entry is not None and entry.get("registry") and eq:
                registry = word.partition("=")[2]
            continue
        if command is None:
            command = spec["commands"].get(word)
            if command is None:
                return []
            options = command["options"]
            continue
        positional.append(word)
    root = find_registry(registry, env)
    if pending is not None:
        return [(v, "") for v in candidates(pending.get("complete"), incomplete, root, positional)]
    if incomplete.startswith("-") and not only_positional:
        return sorted((name, entry["help"]) for name, entry in options.items() if name.startswith(incomplete))
    if command is None:
        return [(name, c["help"]) for name, c in spec["commands"].items() if name.startswith(incomplete)]
    arguments = command["args"]
    index = len(positional)
    if index < len(arguments):
        argument = arguments[index]
    elif arguments and arguments[-1]["variadic"]:
        argument = arguments[-1]
    else:
        return []
    return [(v, "") for v in candidates(argument.get("complete"), incomplete, root, positional)]


def split_words(text: str) -> list[str]:
    """Shell words as the shell would split them; an unclosed quote ends the last word."""
    import shlex

    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    words: list[str] = []
    try:
        for token in lexer:
            words.append(token)
    except ValueError:
        words.append(lexer.token)
    return words


# bash's default COMP_WORDBREAKS: readline replaces only the text after the last of these.
BASH_WORDBREAKS = " \t\n\"'@><=;|&(:"


def _request(shell: str, env: Mapping[str, str]) -> tuple[list[str], str]:
    if shell == "bash" and "COMP_LINE" in env:
        # The line up to the cursor, split as the shell splits words (bash's own COMP_WORDS are
        # cut at every COMP_WORDBREAKS character too, so ``churn@6`` would be three words there).
        typed = env["COMP_LINE"]
        words = split_words(typed)[1:]
        if words and typed[-1:] not in ("", " ", "\t"):
            return words[:-1], words[-1]
        return words, ""
    if shell == "bash":
        words = split_words(env.get("COMP_WORDS", ""))
        cword = int(env.get("COMP_CWORD", "0") or 0)
        return words[1:cword], words[cword] if cword < len(words) else ""
    typed = env.get("_TYPER_COMPLETE_ARGS", "")
    words = split_words(typed)[1:]
    if words and not typed.endswith(" "):
        return words[:-1], words[-1]
    return words, ""


def _after_wordbreak(items: list[Item], incomplete: str, breaks: str) -> list[Item]:
    """What bash may insert: readline replaces only the end of the word from its last break
    character (``@`` and ``:`` among them). ``$`` and ``@`` break the word but stay in the
    replaced text (bash's special prefixes), so ``churn@pr`` is completed by ``@production``
    and ``a:b`` by ``b``."""
    cut = max((incomplete.rfind(ch) for ch in set(breaks) if ch not in " \t\n"), default=-1)
    if cut < 0:
        return items
    head = incomplete[:cut] if incomplete[cut] in "$@" else incomplete[: cut + 1]
    return [(value[len(head) :], help) for value, help in items if value.startswith(head)]


def _zsh_quote(text: str) -> str:
    return text.replace('"', '""').replace("'", "''").replace("$", "\\$").replace("`", "\\`").replace(":", r"\\:")


def respond(env: Mapping[str, str]) -> int:
    """Answer one completion request on stdout; the exit status matters to fish only."""
    mode = env.get("_MODELREG_COMPLETE", "")
    shell = mode.removeprefix("complete_")
    if not mode.startswith("complete_") or shell not in SHELLS:
        return _typer_answers()  # e.g. source_bash: Typer prints the script
    try:
        args, incomplete = _request(shell, env)
        items = complete_words(load_spec(), args, incomplete, env)
        if shell == "bash" and "COMP_LINE" in env:
            items = _after_wordbreak(items, incomplete, env.get("COMP_WORDBREAKS") or BASH_WORDBREAKS)
    except Exception:
        if env.get("MODELREG_DEBUG"):
            raise
        items = []
    out = sys.stdout
    if shell == "bash":
        out.write("\n".join(value for value, _ in items))
    elif shell == "zsh":
        if items:
            lines = [f'"{_zsh_quote(v)}":"{_zsh_quote(h)}"' if h else f'"{_zsh_quote(v)}"' for v, h in items]
            out.write("_arguments '*: :((" + "\n".join(lines) + "))'")
        else:
            out.write("_files")
    else:
        action = env.get("_TYPER_COMPLETE_FISH_ACTION", "")
        if action == "is-args":
            return 0 if items else 1
        out.write("\n".join(f"{v}\t{' '.join(h.split())}" if h else v for v, h in items))
    out.flush()
    return 0


def _typer_answers() -> int:
    from typer.completion import completion_init  # type: ignore[attr-defined]  # not re-exported

    from .group import build_app

    completion_init()
    build_app()(prog_name="modelreg")
    return 0
