"""How the library tells a caller that work advances: it never prints, it calls back.

``Progress`` hears the units (bytes, for everything that moves bytes) done since its previous
call, from any thread. A command line draws a bar with it (cli/progress.py); a library user may
pass any callable, or None.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int], None]
