"""Helpers for the issue-10 guarantee tests (``test_guarantee_*.py``).

They touch modelreg only through its stable surfaces: ``python -m modelreg`` processes, and the
on-disk format of a registry (``audit.jsonl``, ``models/``, ``blobs/sha256/ab/<hex>``,
``.modelreg/...``). No internal module of modelreg is imported here.

Real fault injection needs root here (a tmpfs, a read-only bind mount, a process without
capabilities); the helpers skip the test where that is not possible.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from support.results import ok

MiB = 1 << 20
AUDIT = "audit.jsonl"
# A process without any capability: root then obeys file permissions like any user.
NO_CAPS = ("setpriv", "--bounding-set", "-all", "--inh-caps", "-all", "--ambient-caps", "-all")


# -- running modelreg -------------------------------------------------------------------------


def mr(
    *args: Any,
    cwd: Path | str | None = None,
    env: Mapping[str, str | None] | None = None,
    timeout: float = 120,
    prefix: Sequence[str] = (),
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m modelreg ARGS`` as a real process with the test's environment plus ``env``.

    Raises ``subprocess.TimeoutExpired`` (after killing the process) when it runs longer than
    ``timeout``; use ``mr_within`` to turn that into a test failure with a message.
    """
    full_env = dict(os.environ)
    full_env["PYTHONDONTWRITEBYTECODE"] = "1"
    for key, value in (env or {}).items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    command = [
        *prefix,
        sys.executable,
        "-m",
        "modelreg",
        *(os.fspath(a) if isinstance(a, Path) else str(a) for a in args),
    ]
    return subprocess.run(
        command,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=timeout,
        check=False,
        preexec_fn=preexec_fn,
    )


def mr_within(seconds: float, *args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Like ``mr``, but a command still running after ``seconds`` fails the test."""
    try:
        return mr(*args, timeout=seconds, **kwargs)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"modelreg {' '.join(map(str, args))} still running after {seconds:g}s (killed)") from None


def doc(proc: subprocess.CompletedProcess[str]) -> Any:
    """The JSON document of a successful ``--json`` command."""
    return json.loads(ok(proc).stdout)


def no_bug(proc: subprocess.CompletedProcess[str]) -> None:
    """Whatever the outcome: never exit 1 (a bug) and never a traceback."""
    assert proc.returncode != 1, f"exit 1 is a bug: {proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr


def clean_error(proc: subprocess.CompletedProcess[str], codes: Sequence[int]) -> str:
    """A clean refusal: an expected exit code, one ``error:`` line on stderr; returns it."""
    assert proc.returncode in codes, f"expected exit {codes}, got {proc.returncode}: {proc.stdout}{proc.stderr}"
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


# -- the on-disk format -----------------------------------------------------------------------


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_path(reg: Path, digest: str) -> Path:
    hex_digest = digest.removeprefix("sha256:")
    return reg / "blobs" / "sha256" / hex_digest[:2] / hex_digest


def entry_id(entry: Mapping[str, Any]) -> str:
    """docs/audit-log.md: the SHA-256 of the entry's canonical JSON (keys sorted, no spaces) without id."""
    body = {k: v for k, v in entry.items() if k != "id"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def audit_lines(reg: Path) -> list[bytes]:
    return (reg / AUDIT).read_bytes().splitlines(keepends=True)


def audit_entries(reg: Path) -> list[dict[str, Any]]:
    """Every line of the log that is a JSON object (a torn or glued line is left out)."""
    found = []
    for line in audit_lines(reg):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            found.append(entry)
    return found


def audit_ids(reg: Path) -> list[str]:
    return [e["id"] for e in audit_entries(reg) if isinstance(e.get("id"), str)]


def heads(entries: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ids no later entry lists in its ``prev`` (docs/audit-log.md)."""
    referenced = {p for e in entries for p in e.get("prev", [])}
    return sorted(e["id"] for e in entries if e["id"] not in referenced)


def append_forged_entry(reg: Path, **fields: Any) -> dict[str, Any]:
    """Append an entry linked exactly as modelreg links one: prev = the heads, id = its hash."""
    entries = audit_entries(reg)
    body = {
        "time": "2030-01-01T00:00:00.000000Z",
        "actor": "mallory",
        "action": "promote",
        "model": None,
        "version": None,
        "from_stage": None,
        "to_stage": None,
        "reason": None,
        **fields,
        "txn": "f" * 24,
        "prev": heads(entries),
    }
    entry = {"id": entry_id(body), **body}
    data = (reg / AUDIT).read_bytes()
    assert data.endswith(b"\n")
    with open(reg / AUDIT, "ab") as fh:
        fh.write((json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n").encode())
    return entry


def files_under(directory: Path) -> dict[str, bytes]:
    """Every regular file under ``directory`` by ``/``-separated relative path."""
    if not directory.exists():
        return {}
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def blob_store_files(reg: Path) -> dict[str, bytes]:
    return files_under(reg / "blobs")


def verify_report(reg: Path, **kwargs: Any) -> tuple[int, dict[str, Any] | None]:
    """``verify --json``: its exit code and report (None when it printed no JSON)."""
    proc = mr("verify", "-R", reg, "--json", **kwargs)
    no_bug(proc)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except ValueError:
        return proc.returncode, None


def verify_ok(reg: Path) -> dict[str, Any]:
    code, report = verify_report(reg)
    assert code == 0 and report is not None and report["ok"] is True, report
    return report


# -- git --------------------------------------------------------------------------------------


def git(*args: Any, cwd: Path) -> str:
    """A real git with no user or system configuration."""
    if shutil.which("git") is None:
        import pytest

        pytest.skip("git is not installed")
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "A",
        "GIT_AUTHOR_EMAIL": "a@example.invalid",
        "GIT_COMMITTER_NAME": "A",
        "GIT_COMMITTER_EMAIL": "a@example.invalid",
    }
    done = subprocess.run(["git", *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"git {args}: {done.stderr}"
    return done.stdout


# -- the machine: mounts and privileges -------------------------------------------------------


def _require_root() -> None:
    import pytest

    if os.geteuid() != 0:
        pytest.skip("needs root (a real tmpfs or bind mount)")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` (e.g. ``"4m"``) mounted at ``path`` for the block."""
    import pytest

    _require_root()
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def read_only_view(src: Path, dest: Path) -> Iterator[Path]:
    """``src`` bind-mounted read-only at ``dest`` (what a serving container sees)."""
    import pytest

    _require_root()
    dest.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "--bind", str(src), str(dest)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    try:
        ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(dest)], capture_output=True, text=True, check=False)
        if ro.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {ro.stderr.strip()}")
        yield dest
    finally:
        _umount(dest)


def _umount(path: Path) -> None:
    done = subprocess.run(["umount", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, text=True, check=False)


def no_caps_prefix() -> tuple[str, ...]:
    """A command prefix that runs a process as root without capabilities (permissions apply)."""
    import pytest

    _require_root()
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    probe = subprocess.run([*NO_CAPS, "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr.strip()}")
    return NO_CAPS


def fill(path: Path, *, leave: int = 0) -> None:
    """Fill the filesystem holding ``path`` until at most ``leave`` bytes are free."""
    filler = path / ".filler"
    with open(filler, "wb") as fh:
        while True:
            st = os.statvfs(path)
            free = st.f_bavail * st.f_frsize
            if free <= leave:
                break
            try:
                fh.write(b"\0" * min(MiB, max(free - leave, 1)))
                fh.flush()
            except OSError:
                break


# -- remotes and clones -----------------------------------------------------------------------

TRACKED = ("modelreg.toml", ".gitignore", ".gitattributes", "audit.jsonl", "models")


def set_remote(reg: Path, url: str, *, endpoint: str | None = None, region: str | None = None) -> None:
    """Rewrite the ``[remote]`` table (the last one ``init`` writes) of ``reg/modelreg.toml``."""
    toml = reg / "modelreg.toml"
    head, sep, _ = toml.read_text(encoding="utf-8").partition("[remote]")
    assert sep, "modelreg.toml has no [remote] table"
    lines = [f"url = {json.dumps(url)}"]
    if endpoint:
        lines.append(f"endpoint_url = {json.dumps(endpoint)}")
    if region:
        lines.append(f"region = {json.dumps(region)}")
    lines.append("push_on_register = false")
    toml.write_text(head + "[remote]\n" + "\n".join(lines) + "\n", encoding="utf-8")


def clone_tracked(src: Path, dest: Path) -> Path:
    """What a teammate gets from git: the tracked files only (no blobs/, no .modelreg/)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in TRACKED:
        if (src / name).is_dir():
            shutil.copytree(src / name, dest / name)
        elif (src / name).exists():
            shutil.copy2(src / name, dest / name)
    return dest


def remote_object(remote_dir: Path, digest: str) -> Path:
    """Where a directory remote keeps a blob: ``<dir>/sha256/ab/<hex>``."""
    hex_digest = digest.removeprefix("sha256:")
    return remote_dir / "sha256" / hex_digest[:2] / hex_digest
