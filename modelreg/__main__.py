"""``python -m modelreg`` and the ``modelreg`` console script."""

import sys


def main() -> None:
    # Commands turn Ctrl-C into exit 130 themselves; this covers the moments before one runs
    # (importing the CLI, Typer reading the command's signature) and after it ends.
    try:
        from modelreg.cli import main as cli_main

        cli_main()
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


if __name__ == "__main__":
    main()
