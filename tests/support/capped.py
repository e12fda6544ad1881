"""A real modelreg process whose address space is capped: memory that grows with the input fails it."""

from __future__ import annotations

import resource
import subprocess
from collections.abc import Callable
from typing import Any

from support.procs import child_env, modelreg_cmd

# Each thread reserves its whole stack in the address space (glibc takes RLIMIT_STACK, 8 MiB by
# default): with a handful of transfer threads that reservation, not the memory a command uses,
# would decide whether a thread can start. 2 MiB stacks keep the cap about the heap.
THREAD_STACK = 2 << 20


def _cap(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_STACK, (THREAD_STACK, resource.getrlimit(resource.RLIMIT_STACK)[1]))
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
