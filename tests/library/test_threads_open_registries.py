"""Threads of one process open and leave registries at once (a model server reading a published
registry while it refreshes, a push beside it): the process's note of the registries it
operates on is read while another thread changes it."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from modelreg.base.machine import forget_registry, note_registry, registry_holding


def test_registries_noted_and_forgotten_while_another_thread_asks(tmp_path: Path) -> None:
    roots = [tmp_path / f"reg{i}" for i in range(64)]
    for root in roots:
        root.mkdir()
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn() -> None:
        try:
            while not stop.is_set():
                for root in roots:
                    note_registry(root)
                for root in roots:
                    forget_registry(root)
        except BaseException as exc:
            errors.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the interpreter over as often as it can be
    thread = threading.Thread(target=churn)
    thread.start()
    try:
        outside = tmp_path / "elsewhere" / "model.bin"
        for _ in range(3000):
            assert registry_holding(outside) is None
    except BaseException as exc:
        errors.append(exc)
    finally:
        stop.set()
        thread.join()
        sys.setswitchinterval(switch)
        for root in roots:
            forget_registry(root)
    assert errors == []
