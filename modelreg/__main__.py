"""``python -m modelreg`` and the ``modelreg`` console script."""

import sys


def main() -> None:
    # Commands turn Ctrl-C into exit 130 themselves; this covers the moments before one runs
    # (importing the CLI, Typer reading the command's signature) and after it ends.
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
        # The result is decided: a Ctrl-C during interpreter shutdown must not add noise to it.
        # (signal is loaded by the CLI's imports; importing it here would widen the window.)
        signal = sys.modules.get("signal")
        if signal is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    leave(code)


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
