"""Shared fixtures for the modelreg test suite.

Every test runs with an environment that does not depend on the machine (see ``_isolated_env``):
a fixed ``MODELREG_AUTHOR``, no ``MODELREG_*`` / ``NO_COLOR`` / CI variables inherited from the
shell, git unable to discover a repository above the test's ``tmp_path``, and the working
directory set to ``tmp_path`` so that no registry is picked up from the caller's cwd.

Fixtures for other test modules:

``reg_path``       a freshly initialised registry directory (``tmp_path / "reg"``).
``cli``            ``cli(*args, input=None, env=None)`` runs the Typer app in-process with
                   ``CliRunner``; ``result.stdout`` and ``result.stderr`` are kept apart.
                   ``-R`` is *not* added: pass it yourself.
``run``            ``run(*args, cwd=None, env=None, script=False)`` runs ``python -m modelreg``
                   (or the ``modelreg`` console script with ``script=True``) as a real
                   subprocess; returns a ``CompletedProcess`` with text stdout/stderr and never
                   raises on a non-zero exit.
``make_file``      ``make_file(path, content_or_size)`` writes bytes/str, or ``size`` bytes of
                   deterministic pseudo-random data; creates parent directories.
``tree_snapshot``  ``tree_snapshot(dir, ignore=())`` -> ``{relpath: (size, sha256)}`` of every
                   file (directories and symlinks are listed too), to assert "nothing changed".
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

AUTHOR = "test-author"

# Variables of the caller's shell that would change what modelreg records or where it looks.
MACHINE_ENV = (
    "MODELREG_REGISTRY",
    "MODELREG_REMOTE",
    "MODELREG_LOCK_TIMEOUT",
    "MODELREG_DEBUG",
    "MODELREG_TEST_CRASH_AT",
    "NO_COLOR",
    "FORCE_COLOR",
    "CI",
    "GITHUB_ACTIONS",
    "GITHUB_RUN_ID",
    "GITHUB_REPOSITORY",
    "GITHUB_SERVER_URL",
    "GITLAB_CI",
    "CI_PIPELINE_ID",
    "CI_JOB_ID",
    "CI_PIPELINE_URL",
    "CI_JOB_URL",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "MODELREG_TRUST",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine-independent environment and working directory for every test."""
    for name in MACHINE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELREG_AUTHOR", AUTHOR)
    # git must not find a repository above the test directory (the lineage would change).
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    # This machine's key, trust records and user cache: per test, never the real home's.
    home = tmp_path.parent / f"{tmp_path.name}-home"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.chdir(tmp_path)


# -- files -------------------------------------------------------------------------------------


def pseudo_random_bytes(size: int, seed: str = "") -> bytes:
    """``size`` deterministic bytes (SHA-256 in counter mode over ``seed``)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def write_file(path: Path | str, content_or_size: bytes | str | int) -> Path:
    """Write ``content_or_size`` (bytes, text, or a size for pseudo-random bytes) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content_or_size, int):
        data = pseudo_random_bytes(content_or_size, seed=str(path))
    elif isinstance(content_or_size, str):
        data = content_or_size.encode()
    else:
        data = bytes(content_or_size)
    path.write_bytes(data)
    return path


def snapshot(directory: Path | str, ignore: Iterable[str] = ()) -> dict[str, tuple[int, str]]:
    """``{relpath: (size, sha256 hex)}`` of everything under ``directory``.

    Directories appear as ``(-1, "dir")`` and symlinks as ``(-1, "-> target")`` so that a created
    empty directory or a new link also counts as a change. ``ignore`` lists relative path
    prefixes (POSIX form) to leave out.
    """
    root = Path(directory)
    ignored = tuple(ignore)
    result: dict[str, tuple[int, str]] = {}
    if not root.exists():
        return result
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            path = base / name
            rel = path.relative_to(root).as_posix()
            if any(rel == p or rel.startswith(p.rstrip("/") + "/") for p in ignored):
                continue
            if path.is_symlink():
                result[rel] = (-1, f"-> {os.readlink(path)}")
            elif path.is_dir():
                result[rel] = (-1, "dir")
            else:
                data = path.read_bytes()
                result[rel] = (len(data), hashlib.sha256(data).hexdigest())
    return result


@pytest.fixture
def make_file() -> Callable[[Path | str, bytes | str | int], Path]:
    """``make_file(path, content_or_size) -> Path`` (see ``write_file``)."""
    return write_file


@pytest.fixture
def tree_snapshot() -> Callable[..., dict[str, tuple[int, str]]]:
    """``tree_snapshot(dir, ignore=()) -> {relpath: (size, sha256)}`` (see ``snapshot``)."""
    return snapshot


# -- registries and the CLI --------------------------------------------------------------------


@pytest.fixture
def reg_path(tmp_path: Path) -> Path:
    """A fresh, initialised registry at ``tmp_path / "reg"`` (created through the library)."""
    from modelreg import Registry

    path = tmp_path / "reg"
    Registry.init(path)
    assert (path / "modelreg.toml").is_file()
    return path


def _args(args: Sequence[Any]) -> list[str]:
    return [os.fspath(a) if isinstance(a, os.PathLike) else str(a) for a in args]


@pytest.fixture
def cli() -> Callable[..., Result]:
    """``cli(*args, input=None, env=None) -> Result``: the app in-process via Typer's CliRunner.

    ``result.stdout`` and ``result.stderr`` are separate (``result.output`` mixes them). ``env``
    values of ``None`` unset a variable for the call. ``-R`` is not added automatically.
    """
    from modelreg.cli import app

    runner = CliRunner()

    def invoke(*args: Any, input: str | bytes | None = None, env: Mapping[str, str | None] | None = None) -> Result:
        return runner.invoke(app, _args(args), input=input, env=dict(env or {}))

    return invoke


def console_script() -> str:
    """The installed ``modelreg`` console script next to this interpreter (or on PATH)."""
    candidate = Path(sys.executable).parent / "modelreg"
    if candidate.is_file():
        return str(candidate)
    found = shutil.which("modelreg")
    if found is None:
        pytest.skip("the modelreg console script is not installed")
    return found


@pytest.fixture
def run() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run(*args, cwd=None, env=None, script=False, input=None)``: a real modelreg process.

    Runs ``python -m modelreg ARGS`` (or the ``modelreg`` console script with ``script=True``)
    with the test's environment plus ``env`` (a ``None`` value unsets a variable). Returns the
    CompletedProcess with text stdout/stderr; never raises on a non-zero exit status.
    """

    def call(
        *args: Any,
        cwd: Path | str | None = None,
        env: Mapping[str, str | None] | None = None,
        script: bool = False,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        command = [console_script()] if script else [sys.executable, "-m", "modelreg"]
        return subprocess.run(
            [*command, *_args(args)],
            cwd=cwd,
            env=full_env,
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    return call


# -- a real S3 server (SeaweedFS), shared by the remote tests ---------------------------------------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """One SeaweedFS S3 server on loopback for the whole session; skipped where weed cannot run."""
    from support.s3server import SKIP_REASON, SeaweedS3, weed_binary

    if weed_binary() is None:
        pytest.skip(SKIP_REASON)
    with SeaweedS3() as server:
        yield server


@pytest.fixture
def aws_env(s3server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The standard AWS chain (here and in child processes) sees the test server's key only.

    ``s3server`` is each remote test module's own fixture: the session server with its bucket.
    """
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in s3server.env().items():
        monkeypatch.setenv(name, value)
    # No ~/.aws files, no instance-metadata probe (it would leave loopback), no proxy.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return s3server


# -- a model of two versions that share a file (diff, rollback, gc, export) ------------------------


@pytest.fixture
def two_versions(reg_path: Path, tmp_path: Path, make_file: Any) -> Any:
    from modelreg import Registry

    reg = Registry(reg_path)
    d1, d2 = tmp_path / "v1", tmp_path / "v2"
    make_file(d1 / "model.bin", b"weights one")
    make_file(d1 / "vocab.txt", b"a b c")
    make_file(d1 / "old.cfg", b"x=1")
    make_file(d2 / "model.bin", b"weights two!")
    make_file(d2 / "vocab.txt", b"a b c")
    make_file(d2 / "new.cfg", b"y=2")
    reg.register("m", [d1], metrics={"acc": 0.8, "loss": 0.3}, params={"lr": "0.1"}, tags={"team": "a"})
    reg.register("m", [d2], metrics={"acc": 0.85, "f1": 0.7}, params={"lr": "0.05"}, tags={"team": "a"})
    return reg


# -- markers for a quick inner loop (CI runs everything) ---------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark what needs a peer, from what a test uses: ``-m "not s3 and not mlflow and not browser
    and not slow"`` is the inner loop."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        parts = Path(str(item.fspath)).parts
        module = getattr(item, "module", None)
        if "s3_server" in fixtures or hasattr(module, "SeaweedS3"):  # a fixture, or one asked for at run time
            item.add_marker(pytest.mark.s3)
        if "importing" in parts or "integrations" in parts or any("mlflow" in name for name in fixtures):
            item.add_marker(pytest.mark.mlflow)
        if "browser" in fixtures:
            item.add_marker(pytest.mark.browser)
