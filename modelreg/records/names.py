"""Names: models, aliases, stages and keys; key=value options; metric numbers."""

from __future__ import annotations

import re

from modelreg.errors import UsageError

NAME_RULE = (
    "a model name uses lowercase letters, digits, '.', '_' and '-', "
    "starts with a letter or digit and has at most 100 characters"
)
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_STAGE_RE = re.compile(r"[a-z][a-z0-9_-]{0,39}")
_KEY_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_NUMBER_RE = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
MAX_EXACT_INT = 2**53
# The longest metric value read: a double needs 17 significant digits and an exponent; a longer
# text is refused before any conversion (Python refuses to convert integers of over 4300 digits).
MAX_NUMBER_CHARS = 100
# The most versions a model holds: every loop over a model's versions stays bounded, whatever a
# (hand-edited or hostile) model file claims.
MAX_VERSION = 1_000_000
# File sizes in a manifest are below this (what a signed 64-bit offset can address).
MAX_FILE_SIZE = 2**63


def is_valid_name(name: str) -> bool:
    return bool(_NAME_RE.fullmatch(name))


def validate_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name):
        raise UsageError(f"invalid model name {name!r}: {NAME_RULE}", code="invalid_name")
    return name


def validate_alias(alias: str, stages: tuple[str, ...]) -> str:
    """An alias follows the model-name rule and may not be a stage, ``latest`` or a number."""
    if not _NAME_RE.fullmatch(alias) or alias.isdigit() or alias == "latest" or alias in stages:
        raise UsageError(
            f"invalid alias {alias!r}: an alias uses lowercase letters, digits, '.', '_' and '-', starts with a "
            "letter or digit, has at most 100 characters, and is not a number, 'latest' or a stage "
            f"({', '.join(stages)})",
            code="invalid_alias",
        )
    return alias


def is_valid_stage_name(stage: str) -> bool:
    return bool(_STAGE_RE.fullmatch(stage))


def is_valid_key(key: str) -> bool:
    return bool(_KEY_RE.fullmatch(key))


def validate_key(key: str, what: str) -> str:
    if not _KEY_RE.fullmatch(key):
        raise UsageError(
            f"invalid {what} key {key!r}: use letters, digits and '_.:/-' (at most 128 characters)",
            code="invalid_key",
        )
    return key


def split_pair(text: str, what: str) -> tuple[str, str]:
    """``k=v`` as given to ``--metric``, ``--param`` and ``--tag``."""
    key, sep, value = text.partition("=")
    if not sep:
        raise UsageError(f"--{what} expects KEY=VALUE, got {text!r}", code="invalid_pair")
    return validate_key(key.strip(), what), value


def parse_number(key: str, value: str) -> int | float:
    """A metric value as a JSON reader would take it: a decimal integer (exact up to 2**53) or a
    finite decimal float; ``1_000``, ``0x10``, ``nan`` and ``inf`` are refused."""
    text = value.strip()
    if len(text) > MAX_NUMBER_CHARS:
        raise UsageError(
            f"metric {key!r} is {len(text)} characters long ({text[:12]}…); a number has at most "
            f"{MAX_NUMBER_CHARS} characters",
            code="invalid_metric",
        )
    if not _NUMBER_RE.fullmatch(text):
        raise UsageError(f"metric {key!r} must be a number, got {value!r}", code="invalid_metric")
    if _INT_RE.fullmatch(text):
        number = int(text)
        if abs(number) > MAX_EXACT_INT:
            raise UsageError(
                f"metric {key!r} = {text} is too large to stay exact in JSON (at most 2**53); write it as a float",
                code="invalid_metric",
            )
        return number
    result = float(text)
    if result in (float("inf"), float("-inf")):
        raise UsageError(f"metric {key!r} must be a finite number, got {value!r}", code="invalid_metric")
    return result
