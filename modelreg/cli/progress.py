"""A progress bar on stderr while bytes move, for a person watching a terminal.

The bar starts on the first bytes reported, so a command that finds nothing to move (a served
copy that is already there) shows nothing and never imports rich. Never under --json or -q,
nor when stderr is not a terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from .output import Output

Progress = Callable[[int], None]
MIN_BYTES = 8 << 20  # below this a bar would only flicker


class _Bar:
    def __init__(self, total: int, label: str) -> None:
        self.total, self.label = total, label
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

    def _advance(self, moved: int) -> None:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

            self._progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total)
        self._progress.advance(self._task, moved)

    def off(self) -> None:
        """Draw nothing: the bytes are too few for a bar to be worth showing."""
        self._broken = True

    def close(self) -> None:
        if self._progress is not None:
            with suppress(Exception):
                self._progress.stop()


@contextmanager
def progress_bar(out: Output, total: int, label: str) -> Iterator[Progress | None]:
    """A callable taking the bytes moved since its last call, or None when no bar belongs here."""
    if not out.shows_progress or total < MIN_BYTES:
        yield None
        return
    bar = _Bar(total, label)
    try:
        yield bar
    finally:
        bar.close()


@contextmanager
def planned_bar(out: Output, verb: str) -> Iterator[tuple[Progress | None, Callable[[int, str], None] | None]]:
    """``(progress, planned)`` for a library call that learns what it moves itself: it tells
    ``planned`` the bytes and what they are, then ``progress`` the bytes moved. (None, None)
    when no bar belongs here; a total too small for a bar turns it off."""
    if not out.shows_progress:
        yield None, None
        return
    bar = _Bar(0, verb)

    def planned(total: int, what: str) -> None:
        bar.total, bar.label = total, f"{verb} {what}".strip()
        if total < MIN_BYTES:
            bar.off()

    try:
        yield bar, planned
    finally:
        bar.close()
