"""The ``verify --quick`` verdict the report shows, computed here or in a second process.

verify reads every manifest, as the report does; on a big registry with a spare core the two
reads run side by side (a spawned process: nothing of this one's state is shared or forked).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from modelreg.errors import ModelregError
from modelreg.repo import Repo

from .gather import MAX_FINDINGS, text

PARALLEL_FROM = 5000  # versions from which verify runs in its own process


@dataclass(frozen=True)
class Verdict:
    ok: bool | None  # None: verify could not run
    models: int = 0
    versions: int = 0
    blobs_checked: int = 0
    audit_entries: int = 0
    errors: int = 0
    warnings: int = 0
    findings: list[tuple[str, str, str, str]] = field(default_factory=list)  # the first MAX_FINDINGS
    failure: str = ""


def verdict_of(report: dict[str, Any], root: Path) -> Verdict:
    prefix = f"{root}/"
    findings = report.get("findings") or []
    # Sorted (errors first): verify walks some directories in the file system's own order.
    rows = sorted(
        tuple(text(f.get(k), 1000).replace(prefix, "") for k in ("severity", "kind", "path", "message"))
        for f in findings
    )
    shown = sorted(rows, key=lambda r: r[0] != "error")[:MAX_FINDINGS]
    return Verdict(
        ok=bool(report.get("ok")),
        models=int(report.get("models", 0)),
        versions=int(report.get("versions", 0)),
        blobs_checked=int(report.get("blobs_checked", 0)),
        audit_entries=int(report.get("audit_entries", 0)),
        errors=sum(1 for f in findings if f.get("severity") == "error"),
        warnings=sum(1 for f in findings if f.get("severity") != "error"),
        findings=[(s[0], s[1], s[2], s[3]) for s in shown],
    )


def _verify(root: Path) -> dict[str, Any]:
    from modelreg.ops.verify.run import verify

    try:
        return verify(Repo(root), quick=True).to_json()
    except ModelregError as exc:
        return {"failure": exc.message}


def _worker(root: str, conn: Connection) -> None:
    try:
        conn.send(_verify(Path(root)))
    except BaseException as exc:  # anything at all: the parent must get an answer, not hang
        conn.send({"failure": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


class Pending:
    """verify under way (or done): ``result()`` waits for it."""

    def __init__(self, reg: Repo, parallel: bool) -> None:
        self.root = reg.root
        self.process: Any = None
        self.conn: Connection | None = None
        self.done: dict[str, Any] | None = None
        if parallel:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")
            receive, send = ctx.Pipe(duplex=False)
            self.process = ctx.Process(target=_worker, args=(str(self.root), send), daemon=True)
            self.process.start()
            send.close()
            self.conn = receive
        else:
            self.done = _verify(self.root)

    def result(self) -> Verdict:
        if self.done is None and self.conn is not None:
            try:
                self.done = self.conn.recv()
            except EOFError:
                self.done = {"failure": "the verify process ended without an answer"}
            self.conn.close()
            self.process.join()
        report = self.done or {"failure": "verify did not run"}
        if "failure" in report:
            return Verdict(ok=None, failure=text(report["failure"], 1000).replace(f"{self.root}/", ""))
        return verdict_of(report, self.root)

    def cancel(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.terminate()
            self.process.join()


def start_verify(reg: Repo, parallel: bool | None) -> Pending:
    if parallel is None:
        parallel = (os.cpu_count() or 1) > 1 and _versions(reg) >= PARALLEL_FROM
    return Pending(reg, parallel)


def _versions(reg: Repo) -> int:
    total = 0
    for name in reg.model_names():
        try:
            total += reg.state(name).latest
        except ModelregError:
            continue
    return total
