"""``remote check``: does the store honour conditional writes, atomically, before it is trusted?

Servers have shipped ``If-None-Match``/``If-Match`` that they ignore, or apply without atomicity,
so the check exercises the real server: a probe object created twice (the second must lose), a
swap with a stale tag (must lose), and bursts of writers released together, creating one key and
swapping from one tag (exactly one may win). The verdict is kept per engine url in this user's
cache, sealed with this machine's key, so that the first use of an engine runs it once.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelreg.base.parallel import start_thread
from modelreg.errors import ConflictError, ModelregError
from modelreg.ops.teams.base import Engine
from modelreg.stores.remotes.backend import Backend

BURST_WRITERS = 16
BURST_ROUNDS = 3
_PURPOSE = b"modelreg remote check verdict"


@dataclass
class CheckReport:
    url: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)  # name, passed, detail

    @property
    def ok(self) -> bool:
        return all(passed for _, passed, _ in self.checks)

    def add(self, name: str, passed: bool, detail: str) -> None:
        self.checks.append((name, passed, detail))

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "checks": [{"check": n, "passed": p, "detail": d} for n, p, d in self.checks],
        }

    def refusal(self) -> ConflictError:
        failed = "; ".join(f"{n}: {d}" for n, passed, d in self.checks if not passed)
        return ConflictError(
            f"the store {self.url} does not honour conditional writes ({failed}): two writers could both win, "
            "so it cannot hold claims; use a store that does (AWS S3, a recent MinIO or SeaweedFS) or the git engine",
            code="engine_untrusted",
        )


def _burst(count: int, work: Callable[[int], bool]) -> tuple[list[int], list[BaseException]]:
    gate = threading.Barrier(count)
    won: list[int] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            gate.wait()
            if work(i):
                won.append(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    try:
        for thread in threads:
            start_thread(thread)
    except ModelregError:
        gate.abort()  # the writers already started wait at the gate for the rest: let them go
        raise
    for thread in threads:
        thread.join(timeout=120)
    return won, errors


def check_backend(backend: Backend) -> CheckReport:
    """Run every probe on ``backend`` (under ``probes/<random>/``); errors of the store propagate."""
    report = CheckReport(backend.url)
    base = f"probes/{secrets.token_hex(8)}"
    key = f"{base}/create"
    first = backend.create(key, b"first")
    second = backend.create(key, b"second")
    kept = backend.read(key, 64)
    report.add(
        "create twice",
        first and not second and kept == b"first",
        "the second create lost" if not second else "a second create of one key also won",
    )
    seen = backend.read_tagged(key, 64)
    fresh = seen is not None and backend.swap(key, b"third", seen.tag)
    stale = seen is not None and backend.swap(key, b"stale", seen.tag)
    kept = backend.read(key, 64)
    report.add(
        "stale swap",
        fresh and not stale and kept == b"third",
        "a swap with a stale tag lost" if fresh and not stale else "a swap with a stale tag won (or a fresh one lost)",
    )
    for round_ in range(BURST_ROUNDS):
        burst_key = f"{base}/burst-{round_}"

        def create(i: int, k: str = burst_key) -> bool:
            return backend.create(k, f"writer {i}".encode())

        won, errors = _burst(BURST_WRITERS, create)
        if errors:
            raise _first_error(errors)
        stored = backend.read(burst_key, 64)
        right = len(won) == 1 and stored == f"writer {won[0]}".encode()
        report.add(
            f"burst of {BURST_WRITERS} creates ({round_ + 1})",
            right,
            f"{len(won)} of {BURST_WRITERS} simultaneous creates won" if not right else "exactly one won",
        )
    start = backend.read_tagged(f"{base}/burst-0", 64)
    if start is not None:
        tag = start.tag
        won, errors = _burst(BURST_WRITERS, lambda i: backend.swap(f"{base}/burst-0", f"swap {i}".encode(), tag))
        if errors:
            raise _first_error(errors)
        report.add(
            f"burst of {BURST_WRITERS} swaps",
            len(won) == 1,
            f"{len(won)} of {BURST_WRITERS} simultaneous swaps from one tag won",
        )
    return report


def check_engine(engine: Engine) -> CheckReport:
    """The same probes through an engine's own operations (the git engine: refs on its remote),
    on a probe model of a random name: its claim 1 created twice, its pointers swapped with a
    stale tag, and a burst of writers creating its claim 2 at once."""
    report = CheckReport(engine.url)
    probe = f"probe-{secrets.token_hex(6)}"
    first = engine.create_claim(probe, 1, b"first")
    second = engine.create_claim(probe, 1, b"second")
    kept = engine.read_claim(probe, 1)
    report.add(
        "create twice",
        first and not second and kept == b"first",
        "the second create lost" if not second else "a second create of one claim also won",
    )
    created = engine.create_pointers(probe, b"one")
    seen = engine.read_pointers(probe)
    fresh = seen is not None and engine.swap_pointers(probe, b"two", seen.tag)
    stale = seen is not None and engine.swap_pointers(probe, b"stale", seen.tag)
    now = engine.read_pointers(probe)
    report.add(
        "stale swap",
        created and fresh and not stale and now is not None and now.data == b"two",
        "a swap with a stale tag lost" if fresh and not stale else "a swap with a stale tag won (or a fresh one lost)",
    )
    won, errors = _burst(BURST_WRITERS // 2, lambda i: engine.create_claim(probe, 2, f"writer {i}".encode()))
    if errors:
        raise _first_error(errors)
    report.add(
        f"burst of {BURST_WRITERS // 2} creates",
        len(won) == 1,
        f"{len(won)} of {BURST_WRITERS // 2} simultaneous creates won" if len(won) != 1 else "exactly one won",
    )
    return report


def _first_error(errors: list[BaseException]) -> BaseException:
    for exc in errors:
        if isinstance(exc, ModelregError):
            return exc
    return errors[0]


def _verdict_path(url: str) -> Path:
    from modelreg.base.machine import cache_dir, own_dir

    name = hashlib.sha256(url.encode()).hexdigest()[:32]
    return own_dir(cache_dir(), "cache") / "engines" / f"{name}.json"


def remembered(url: str) -> bool | None:
    """The verdict this machine reached on the engine at ``url``, or None when it never checked it."""
    from modelreg.base.fs import read_own
    from modelreg.base.machine import unseal

    raw = read_own(_verdict_path(url), 4096)
    data = None if raw is None else unseal(raw, _PURPOSE)
    try:
        verdict = json.loads(data) if data is not None else None
    except ValueError:
        return None
    if not isinstance(verdict, dict) or verdict.get("url") != url or not isinstance(verdict.get("ok"), bool):
        return None
    return bool(verdict["ok"])


def remember(report: CheckReport) -> None:
    from modelreg.base.fs import atomic_write
    from modelreg.base.machine import seal

    sealed = seal(json.dumps({"url": report.url, "ok": report.ok}).encode(), _PURPOSE)
    if sealed is None:
        return  # no key on this machine: the check runs again next time
    path = _verdict_path(report.url)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, sealed)
