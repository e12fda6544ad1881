"""Prediction ids: which version made a prediction, and when, in 38 characters.

    0194a3f2c1d0-3e0b12aa-9f86d081884c7d65
    └─ time ───┘ └ tail ┘ └─ digest ─────┘

- time: the milliseconds since the Unix epoch (UTC) when the id was minted, as 12 lowercase hex
  digits. Fixed width, so ids sort by time as plain strings (until the year 10889).
- tail: 8 hex digits, random for the first id of a millisecond and then counting up, so the ids
  one process mints sort in the order it minted them and two processes almost never collide.
- digest: the first 16 hex digits of the version's digest (its ``sha256:`` file-set digest), so
  an id names the content that answered, whatever the registry calls it.

``parse`` also accepts 12 to 64 digest digits, for ids minted with more of the digest.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelreg.errors import UsageError

DIGEST_DIGITS = 16
MIN_DIGEST_DIGITS = 12
_ID_RE = re.compile(r"([0-9a-f]{12})-([0-9a-f]{8})-([0-9a-f]{12,64})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TAIL_LIMIT = 1 << 32
_lock = threading.Lock()
_last: list[int] = [-1, 0]  # the millisecond of the last id minted here, and its tail


@dataclass(frozen=True)
class PredictionId:
    millis: int
    digest_prefix: str  # hex digits, without "sha256:"
    tail: int

    @property
    def time(self) -> str:
        """The moment it was minted, RFC 3339 UTC as the audit log writes times: the end of its
        millisecond, so a deploy recorded earlier in that millisecond counts as before it."""
        moment = _EPOCH + timedelta(milliseconds=self.millis, microseconds=999)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def __str__(self) -> str:
        return f"{self.millis:012x}-{self.tail:08x}-{self.digest_prefix}"


def mint(digest: str, *, now_ns: int | None = None) -> str:
    """A new id for a prediction of the version whose digest is ``digest`` (``sha256:<hex>``)."""
    hex_digits = digest.removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", hex_digits):
        raise UsageError(f"not a version digest: {digest!r} (expected sha256: and 64 hex digits)", code="invalid_input")
    millis = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    with _lock:
        if millis <= _last[0] and _last[1] + 1 < _TAIL_LIMIT:
            # the same millisecond (or a clock stepped back): keep this process's order
            millis, tail = _last[0], _last[1] + 1
        else:
            tail = secrets.randbelow(_TAIL_LIMIT // 2)  # room to count up within the millisecond
        _last[0], _last[1] = millis, tail
    return str(PredictionId(millis, hex_digits[:DIGEST_DIGITS], tail))


def parse(text: str) -> PredictionId:
    """An id as ``mint`` writes it; UsageError (exit 2) for anything else."""
    match = _ID_RE.fullmatch(text.strip())
    if match is None:
        raise UsageError(
            f"invalid prediction id {text[:80]!r}: expected TIME-TAIL-DIGEST in lowercase hex "
            "(12, 8 and 12 to 64 digits), as modelreg.serving.prediction_id mints them",
            code="invalid_prediction_id",
        )
    return PredictionId(int(match.group(1), 16), match.group(3), int(match.group(2), 16))
