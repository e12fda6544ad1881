"""References to a version: ``NAME@REF``, relative (``~N``) and at a moment (``@{TIME}``).

    NAME                      the newest version (``NAME@latest``)
    NAME@7                    version 7
    NAME@latest               the newest version
    NAME@production           a stage (a stage holding several names the newest of them) ...
    NAME@champion             ... or an alias: the registry's stages decide which a label is
    NAME@sha256:9307ae7f      a version whose digest starts so (at least 8 hex digits)
    REF~N                     N steps back: N versions earlier for a number or ``latest``, the
                              N-th earlier holder of a stage or alias
    REF@{TIME}                what REF named at TIME: ``2026-11-20T09:00:00Z``, ``2026-11-20``
                              (that day's end, UTC) or ``3d`` (s, m, h, d, w ago)

Both suffixes combine (``churn@production@{2026-11-20}~1``), ``NAME@{3d}`` and ``NAME~1`` mean
``NAME@latest@{3d}`` and ``NAME@latest~1``. Parsing needs no registry: a relative time is fixed
to an absolute one when parsed, so a reference prints as the same reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelreg.errors import UsageError

from .names import validate_name

MIN_DIGEST_PREFIX = 8
MAX_STEPS = 1_000_000
_DIGEST_REF_RE = re.compile(r"sha256:([0-9a-f]{8,64})")
_LABEL_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_BASE_RE = re.compile(r"(?P<base>[^@~{}]*)(?:@\{(?P<time>[^{}]*)\})?(?P<steps>(?:~[0-9]*)*)")
_DURATION_RE = re.compile(r"([0-9]{1,9})\s*([smhdw])")
_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
REF_RULE = (
    "after '@' give a version number, 'latest', a stage or alias, or a digest prefix (sha256:...), "
    "then optionally @{TIME} (2026-11-20, 2026-11-20T09:00:00Z or 3d) and ~N"
)


def is_valid_label(text: str) -> bool:
    """A stage or alias name as a reference may hold it (a number would be a version)."""
    return bool(_LABEL_RE.fullmatch(text)) and not text.isdigit() and text != "latest"


@dataclass(frozen=True)
class Ref:
    """A parsed reference: at most one of version, label, digest_prefix (none: latest), then an
    optional moment ``at`` (RFC 3339 UTC) and ``back`` steps."""

    name: str
    version: int | None = None
    label: str | None = None  # a stage or an alias
    digest_prefix: str | None = None
    explicit: bool = True  # False for a bare NAME: where a model is expected, it means the model
    at: str | None = None
    back: int = 0

    @property
    def is_latest(self) -> bool:
        return self.version is None and self.label is None and self.digest_prefix is None

    @property
    def stage(self) -> str | None:
        """The label, for code that only knows stages (it may name an alias)."""
        return self.label

    @property
    def plain(self) -> bool:
        """No moment and no steps: answered from the registry's files alone."""
        return self.at is None and self.back == 0

    def base(self) -> str:
        if self.version is not None:
            return str(self.version)
        if self.label is not None:
            return self.label
        if self.digest_prefix is not None:
            return f"sha256:{self.digest_prefix}"
        return "latest"

    def __str__(self) -> str:
        text = f"{self.name}@{self.base()}"
        if self.at is not None:
            text += "@{" + self.at + "}"
        if self.back:
            text += f"~{self.back}"
        return text


def parse_time(text: str, now: datetime | None = None) -> str:
    """``3d``, ``2026-11-20`` (that day's end) or an ISO date-time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    spec = text.strip()
    match = _DURATION_RE.fullmatch(spec)
    try:
        if match:
            moment = now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        elif _DAY_RE.fullmatch(spec):
            moment = datetime.fromisoformat(spec).replace(tzinfo=UTC) + timedelta(days=1, microseconds=-1)
        else:
            moment = datetime.fromisoformat(spec.replace("Z", "+00:00").replace("z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime(TIME_FORMAT)
    except (ValueError, OverflowError):
        raise UsageError(
            f"invalid time {text!r}: give a date (2026-11-20), a date and time (2026-11-20T09:00:00Z) "
            "or a duration ago (30m, 12h, 3d, 2w)",
            code="invalid_ref",
        ) from None


def _steps(text: str, whole: str) -> int:
    total = 0
    for part in text.split("~")[1:]:
        if len(part) > 7:
            raise UsageError(f"invalid reference {whole!r}: ~{part[:10]}… is too many steps", code="invalid_ref")
        total += int(part) if part else 1
    if total > MAX_STEPS:
        raise UsageError(f"invalid reference {whole!r}: at most {MAX_STEPS} steps back", code="invalid_ref")
    return total


def _base(name: str, base: str, whole: str) -> Ref:
    if base in ("", "latest"):
        return Ref(name)
    if base.isascii() and base.isdigit():
        if len(base.lstrip("0")) > 15:
            raise UsageError(f"invalid version {base[:20]!r}…: too large", code="invalid_ref")
        number = int(base)
        if number < 1:
            raise UsageError(f"invalid version {base!r} in {whole!r}: versions start at 1", code="invalid_ref")
        return Ref(name, version=number)
    if base.lower().startswith("sha256:"):
        match = _DIGEST_REF_RE.fullmatch(base.lower())
        if not match:
            raise UsageError(
                f"invalid digest reference {base!r}: use sha256: and at least {MIN_DIGEST_PREFIX} hex digits",
                code="invalid_ref",
            )
        return Ref(name, digest_prefix=match.group(1))
    if is_valid_label(base):
        return Ref(name, label=base)
    raise UsageError(f"invalid reference {whole!r}: {REF_RULE}", code="invalid_ref")


def parse_ref(text: str, *, now: datetime | None = None) -> Ref:
    """A reference as a user types it (see the module docstring); UsageError (exit 2) otherwise."""
    name_end = len(text)
    for mark in ("@", "~"):
        found = text.find(mark)
        if found != -1:
            name_end = min(name_end, found)
    name, rest = text[:name_end], text[name_end:]
    validate_name(name)
    if not rest:
        return Ref(name, explicit=False)
    if rest.startswith("~") or rest.startswith("@{"):  # NAME~N
        rest = "@latest" + rest
    match = _BASE_RE.fullmatch(rest[1:]) if rest.startswith("@") else None
    if match is None or (rest.startswith("@") and not match.group("base") and rest[1:2] != "{"):
        raise UsageError(f"invalid reference {text!r}: {REF_RULE}", code="invalid_ref")
    ref = _base(name, match.group("base"), text)
    time = match.group("time")
    at = parse_time(time, now) if time is not None else None
    back = _steps(match.group("steps"), text)
    return Ref(name, ref.version, ref.label, ref.digest_prefix, True, at, back)


def parse_ref_of(text: str, model: str, stages: tuple[str, ...]) -> Ref:
    """``B`` of ``diff A B``: ``NAME@REF``, or a bare REF (a version, ``latest``, a stage or a
    digest prefix, with its suffixes) that names a version of ``model``; anything else is a model."""
    head = re.split(r"[@~]", text, maxsplit=1)[0]
    if "@" not in text and (head == "latest" or head.isdigit() or head.startswith("sha256:") or head in stages):
        return parse_ref(f"{model}@{text}")
    return parse_ref(text)
