"""docs/reference/python.md is generated from the code and stays what the code says: every public
name, every Registry method with its parameters, and the errors each raises with their exit codes."""

from __future__ import annotations

import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import modelreg
from modelreg import Registry, errors

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "reference" / "python.md"
SCRIPT = ROOT / "scripts" / "python_reference.py"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("python_reference", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def public_methods() -> list[str]:
    return [
        name
        for name, value in vars(Registry).items()
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, classmethod))
    ]


def test_the_page_is_what_the_generator_writes() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr


def test_every_public_name_and_method_is_on_the_page() -> None:
    text = PAGE.read_text(encoding="utf-8")
    headings = set(re.findall(r"^### (\S+)$", text, re.M))
    tables = set(re.findall(r"^\| `([^`]+)` \|", text, re.M))
    for name in modelreg.__all__:
        assert name in headings | tables or name == "Registry", name
    assert "## Registry" in text
    for name in public_methods():
        assert f"reg.{name}" in headings or f"Registry.{name}" in headings, name


def test_every_method_says_what_it_raises_with_exit_codes() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for name in public_methods():
        value = vars(Registry)[name]
        doc = inspect.getdoc(value.__func__ if isinstance(value, classmethod) else value) or ""
        assert "Raises:" in doc, f"Registry.{name} does not say what it raises"
        section = text.split(f".{name}\n", 1)[1].split("\n### ", 1)[0]
        for error in re.findall(r"\b(\w+Error)\b", doc.partition("Raises:")[2]):
            cls = getattr(errors, error)
            assert f"`{error}` (exit {cls.exit_code}" in section, (name, error)


def test_the_check_fails_when_the_code_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    page = PAGE.read_text(encoding="utf-8")
    reference = generator()
    assert reference.render() == page
    monkeypatch.setattr(Registry.stats, "__doc__", "Something else.\n\nRaises: NotFoundError (no such model).")
    changed = reference.render()
    assert changed != page and "Something else." in changed
    monkeypatch.setattr(Registry.stats, "__doc__", "Raises: NoSuchError.")
    with pytest.raises(SystemExit, match="NoSuchError"):
        reference.render()
