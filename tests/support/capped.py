"""A real modelreg process whose address space is capped: memory that grows with the input fails it."""

from __future__ import annotations

import resource
import subprocess
from collections.abc import Callable
from typing import Any

from support.procs import child_env, modelreg_cmd


def _cap(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def run_capped(
    *args: Any, cap_mib: int, env: dict[str, str | None] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m modelreg ARGS`` with RLIMIT_AS at ``cap_mib`` MiB (a MemoryError there is exit 1)."""
    return subprocess.run(
        modelreg_cmd(*args),
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        env=child_env(env),
        timeout=timeout,
        check=False,
        preexec_fn=_cap(cap_mib << 20),
    )
