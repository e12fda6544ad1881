"""The progress bar on stderr, for a person watching a terminal: bytes moving, or steps (the
versions an import brings in).

The bar starts on the first bytes reported, so a command that finds nothing to move (a served
copy that is already there) shows nothing and never imports rich; push and pull show theirs at
once, planning, since finding what the other side lacks can take seconds. Never under --json
or -q, nor when stderr is not a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from modelreg.base.progress import Progress

from .output import Output

MIN_BYTES = 8 << 20  # below this a bar would only flicker


class _Bar:
    def __init__(self, total: int, label: str, *, steps: bool = False) -> None:
        self.total, self.label, self.steps = total, label, steps
        self._progress: Any = None
        self._task: Any = None
        self._broken = False

    def __call__(self, moved: int) -> None:
        if self._broken:
            return
        try:
            self._advance(moved)
        except Exception:  # a bar that cannot be drawn (stderr gone) must not fail the transfer
            self._broken = True

    def _start(self, total: int | None, label: str) -> None:
        if self._progress is None:
            from rich import progress as rp
            from rich.console import Console

            counts: list[Any] = (
                [rp.MofNCompleteColumn(), rp.TimeElapsedColumn()]
                if self.steps
                else [rp.DownloadColumn(), rp.TransferSpeedColumn(), rp.TimeRemainingColumn()]
            )
            self._progress = rp.Progress(
                "[progress.description]{task.description}",
                rp.BarColumn(),
                *counts,
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(label, total=total)

    def _advance(self, moved: int) -> None:
        self._start(self.total, self.label)
        self._progress.advance(self._task, moved)

    def planning(self, label: str) -> None:
        """Shown at once, before the total is known: the first seconds of a transfer say what
        happens (reading what the other side has) rather than nothing."""
        with suppress(Exception):
            self._start(None, label)

    def set_total(self, total: int) -> None:
        """The bytes that will move, now known; the bar counts towards them."""
        self.total = total
        if self._progress is not None and not self._broken:
            with suppress(Exception):
                self._progress.update(self._task, total=total, description=self.label)

    def adjust_total(self, delta: int) -> None:
        """A part planned at its full size moves ``delta`` bytes more (fewer, when negative)."""
        self.set_total(max(0, self.total + delta))

    def step(self, done: int, total: int, what: str) -> None:
        """``done`` of ``total`` steps, the current one being ``what``."""
        if self._broken:
            return
        try:
            self._start(total or None, what[:60])
            self._progress.update(self._task, completed=done, total=total or None, description=what[:60])
        except Exception:  # a bar that cannot be drawn must not fail the work
            self._broken = True

    def off(self) -> None:
        """Draw nothing more: the bytes are too few for a bar to be worth watching."""
        self._broken = True
        self.close()

    def close(self) -> None:
        if self._progress is not None:
            with suppress(Exception):
                self._progress.stop()


@contextmanager
def step_bar(out: Output, label: str) -> Iterator[Callable[[int, int, str], None] | None]:
    """A bar counting steps, shown at once: ``(done, total, what)`` moves it; None when no bar belongs here."""
    if not out.shows_progress:
        yield None
        return
    bar = _Bar(0, label, steps=True)
    bar.step(0, 0, label)
    try:
        yield bar.step
    finally:
        bar.close()


@contextmanager
def planned_bar(
    out: Output, verb: str, *, planning: bool = False
) -> Iterator[tuple[Progress | None, Callable[[int, str], None] | None]]:
    """``(progress, planned)`` for a library call that learns what it moves itself: it tells
    ``planned`` the bytes and what they are (again, corrected, when it learns better), then
    ``progress`` the bytes moved. (None, None) when no bar belongs here. ``planning`` shows the
    bar at once, before the total is known; a first total too small for a bar turns it off."""
    if not out.shows_progress:
        yield None, None
        return
    bar = _Bar(0, verb)
    if planning:
        bar.planning(f"{verb}: planning")
    first = True

    def planned(total: int, what: str) -> None:
        nonlocal first
        bar.label = f"{verb} {what}".strip()
        if first and total < MIN_BYTES:
            bar.off()
        first = False
        bar.set_total(total)

    try:
        yield bar, planned
    finally:
        bar.close()
