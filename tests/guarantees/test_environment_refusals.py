"""Issue 10, a registry that cannot be written (a serving container's read-only mount) still
answers every read; ``get-production --json`` reports the version (``path`` null with a warning,
or a copy in the user's cache directory), ``--path`` serves from ``$XDG_CACHE_HOME`` or exits 4
naming the registry, and every write exits 4 with one line naming the path.

Two real ways a registry cannot be written, each test runs under both:
- ``ro-mount``: the registry bind-mounted read-only (``mount -o remount,bind,ro``);
- ``no-permission``: ``chmod -R a-w`` and modelreg run without capabilities (``setpriv``),
  so that root obeys the permissions like any user.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.guarantees import clean_error, doc, files_under, mr, no_bug, no_caps_prefix, read_only_view
from support.results import ok


class ReadOnly:
    """How a test reaches the registry it cannot write: its path and how to run modelreg."""

    def __init__(self, root: Path, prefix: tuple[str, ...], cache: Path, expected: dict[str, bytes]) -> None:
        self.root = root
        self.prefix = prefix
        self.cache = cache
        self.expected = expected  # the files of m@2, the production version

    def run(self, *args: Any) -> Any:
        return mr(*args, "-R", self.root, prefix=self.prefix, env={"XDG_CACHE_HOME": str(self.cache)})


def _chmod_tree(root: Path, writable: bool) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(mode | stat.S_IWUSR if writable else mode & ~0o222)
    mode = root.stat().st_mode
    root.chmod(mode | stat.S_IWUSR if writable else mode & ~0o222)


@pytest.fixture(params=["ro-mount", "no-permission"])
def read_only(request: pytest.FixtureRequest, reg_path: Path, tmp_path: Path, make_file: Any) -> Iterator[ReadOnly]:
    make_file(tmp_path / "t1" / "model.bin", "v1 weights\n" * 100)
    for name in ("model.bin", "conf/params.json"):
        make_file(tmp_path / "t2" / name, f"v2 {name}\n" * 100)
    ok(mr("register", "-R", reg_path, "m", tmp_path / "t1"))
    ok(mr("register", "-R", reg_path, "m", tmp_path / "t2", "--metric", "acc=0.9"))
    ok(mr("promote", "-R", reg_path, "m@1", "production"))
    ok(mr("promote", "-R", reg_path, "m@2", "production", "--reason", "better"))
    expected = files_under(tmp_path / "t2")
    cache = tmp_path / "xdg-cache"
    cache.mkdir()
    if request.param == "ro-mount":
        with read_only_view(reg_path, tmp_path / "mnt") as view:
            yield ReadOnly(view, (), cache, expected)
    else:
        prefix = no_caps_prefix()
        _chmod_tree(reg_path, writable=False)
        try:
            yield ReadOnly(reg_path, prefix, cache, expected)
        finally:
            _chmod_tree(reg_path, writable=True)


READS = [
    ("list",),
    ("list", "m"),
    ("list", "--stage", "production"),
    ("show", "m"),
    ("show", "m@1"),
    ("show", "m@production"),
    ("log",),
    ("log", "m"),
    ("diff", "m@1", "m@2"),
    ("verify",),
    ("verify", "--quick"),
    ("get-production", "m"),
    ("gc", "--dry-run"),
]


def test_every_read_answers_on_a_read_only_registry(read_only: ReadOnly, tmp_path: Path) -> None:
    """(Holds today.)"""
    for args in READS:
        proc = read_only.run(*args)
        assert proc.returncode == 0, f"{args}: exit {proc.returncode}: {proc.stderr}"
    ok(read_only.run("export", "m@2", tmp_path / "exported"))
    assert files_under(tmp_path / "exported") == read_only.expected
    ok(read_only.run("get-production", "m", "--output", tmp_path / "deploy"))
    assert files_under(tmp_path / "deploy") == read_only.expected


def test_get_production_json_reports_the_version_on_a_read_only_registry(read_only: ReadOnly) -> None:
    proc = read_only.run("get-production", "m", "--json")
    found = doc(proc)
    assert (found["version"], found["metrics"]) == (2, {"acc": 0.9})
    if found["path"] is None:
        assert "warning:" in proc.stderr, "path is null without a warning"
    else:
        where = Path(found["path"])
        assert where.is_relative_to(read_only.cache), f"files served from {where}, not the user's cache"
        assert files_under(where) == read_only.expected


def test_get_production_path_serves_from_the_user_cache_or_exits_4(read_only: ReadOnly) -> None:
    proc = read_only.run("get-production", "m", "--path")
    no_bug(proc)
    if proc.returncode == 0:
        where = Path(proc.stdout.strip())
        assert where.is_relative_to(read_only.cache), f"files served from {where}, not the user's cache"
        assert files_under(where) == read_only.expected
    else:
        assert str(read_only.root) in clean_error(proc, (4,))


def test_every_write_exits_4_on_a_read_only_registry(read_only: ReadOnly, tmp_path: Path, make_file: Any) -> None:
    src = make_file(tmp_path / "new.bin", "new weights\n")
    before = files_under(read_only.root)
    for args in (
        ("register", "m", src),
        ("promote", "m@1", "staging"),
        ("annotate", "m", "--description", "x"),
        ("annotate", "m@1", "--tag", "k=v"),
        ("rollback", "m"),
        ("gc",),
    ):
        proc = read_only.run(*args)
        message = clean_error(proc, (4,))
        assert str(read_only.root) in message, f"{args}: the message does not name the registry: {message}"
    assert files_under(read_only.root) == before
    assert json.loads(ok(read_only.run("list", "m", "--json")).stdout)["versions"][1]["stage"] == "production"
