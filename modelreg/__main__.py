"""``python -m modelreg`` and the ``modelreg`` console script."""

import sys


def main() -> None:
    # Commands turn Ctrl-C into exit 130 themselves; this covers the moments before one runs
    # (importing the CLI, Typer reading the command's signature) and after it ends.
    sys.unraisablehook = _deliver_lost_interrupt
    _fill_closed_standard_streams()
    try:
        from modelreg.cli import main as cli_main

        try:
            cli_main()
        except SystemExit as done:
            code = done.code
        else:
            code = 0
    except Exception as exc:
        from modelreg.errors import caused_by_interrupt

        if not caused_by_interrupt(exc):
            raise
        sys.stderr.write("error: interrupted\n")
        raise SystemExit(130) from None
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        raise SystemExit(130) from None
    finally:
        # The result is decided: a Ctrl-C from here on must not add noise to it, nor one that
        # lands before SIGINT is ignored replace it with a traceback.
        try:
            _ignore_interrupts()
        except KeyboardInterrupt:
            _ignore_interrupts()
    leave(code)


def _fill_closed_standard_streams() -> None:
    """``1>&-`` (or 0, or 2): the descriptor is the next file this process opens (a lock, a pack,
    the audit log), where a subprocess's or a hook's output would land, and Python's stream is
    None. Each closed one is the null device instead: what would go there is dropped, as when a
    pipe's reader has gone away, and the exit code is the command's."""
    import os

    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        try:
            os.fstat(fd)
            continue
        except OSError:
            # The lowest free descriptor is taken: this one, as the ones below it are open.
            os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
        if getattr(sys, name) is None:
            setattr(sys, name, open(fd, "r" if fd == 0 else "w", encoding="utf-8", closefd=False))  # noqa: SIM115


def _ignore_interrupts() -> None:
    # (signal is loaded by the CLI's imports; importing it here would widen the window.)
    signal = sys.modules.get("signal")
    if signal is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)  # a Ctrl-C raised again (below) included


_in_hook = False


def _deliver_lost_interrupt(unraisable: "sys.UnraisableHookArgs") -> None:
    """CPython cannot raise an exception out of a finalizer (a ``__del__``, a weakref callback
    such as the import lock's): a Ctrl-C landing in one is printed as "Exception ignored" and the
    command runs on to exit 0. Raise it again a millisecond later, in the command's own code
    (where it means exit 130), through an alarm: a signal raised here would be handled before
    this hook returns, and lost the same way."""
    global _in_hook
    if not issubclass(unraisable.exc_type, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)
        return
    import signal

    _in_hook = True
    signal.signal(signal.SIGALRM, _interrupt_again)
    signal.setitimer(signal.ITIMER_REAL, 0.001)
    _in_hook = False


def _interrupt_again(signum: int, frame: object) -> None:
    if _in_hook:  # the alarm came before the hook returned: once more, a little later
        import signal

        signal.setitimer(signal.ITIMER_REAL, 0.001)
        return
    raise KeyboardInterrupt


def leave(code: object) -> None:
    """End the process with ``code`` without tearing the interpreter down when nothing is left
    to finish: exit handlers run and the output is flushed, but freeing every module and object
    one by one (up to 20 ms after a register, a tenth of a read's time) is skipped. With a
    thread still running, a profiler or tracer watching (it writes its report after this
    returns), a code that is not a number, or output that cannot be flushed (but to a reader
    gone away), the interpreter ends the usual way and says what it always says."""
    import threading

    watched = sys.getprofile() is not None or sys.gettrace() is not None
    if not watched and threading.active_count() == 1 and (code is None or type(code) is int):
        import atexit
        import os

        atexit._run_exitfuncs()
        # A stream closed when the process started (``2>&-``) is None here: nothing to flush.
        for stream in (sys.stdout, sys.stderr):
            try:
                if stream is not None:
                    stream.flush()
            except BrokenPipeError:
                if stream is sys.stderr:
                    raise SystemExit(code) from None
                # the reader went away (``| head``): as inside a command, not worth a message
            except (OSError, ValueError):
                raise SystemExit(code) from None
        os._exit(code or 0)
    raise SystemExit(code)


if __name__ == "__main__":
    main()
