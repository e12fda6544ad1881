"""Values read from the command line that need no Typer: ``KEY=VALUE`` pairs.

Here rather than in ``options.py`` (which declares Typer's option types) so that the read path
without Typer (``fast_path.py``) can parse ``list --tag`` the way the full CLI does.
"""

from __future__ import annotations


def pairs(values: list[str] | None, what: str) -> dict[str, str]:
    """``--metric/--param/--tag KEY=VALUE`` options: a key given twice, or spaces around ``=``
    (``acc= 0.5``), are refused rather than silently resolved."""
    from ..errors import UsageError
    from ..records.names import split_pair

    found: dict[str, str] = {}
    for text in values or []:
        key, sep, value = text.partition("=")
        spaced = key != key.strip() or value[:1].isspace() or (what == "metric" and value != value.strip())
        if sep and spaced:
            raise UsageError(
                f"--{what} {text!r}: no spaces around '=' (write {key.strip()}={value.strip()})", code="invalid_pair"
            )
        if sep and not value and what == "metric":
            raise UsageError(
                f"--metric {text!r} has no value: write {key}=NUMBER, with no space after '='", code="invalid_metric"
            )
        key, value = split_pair(text, what)
        if key in found:
            raise UsageError(
                f"--{what} {key} is given twice ({key}={found[key]} and {key}={value}); give it once",
                code="duplicate_key",
            )
        found[key] = value
    return found
