"""Prediction ids: which version made a prediction, and when, in 40 characters.

    063f2a1b2c3d4e-3e0b12aa-9f86d081884c7d65
    └── time ────┘ └ tail ┘ └─ digest ─────┘

- time: the microseconds since the Unix epoch (UTC) when the id was minted, as 14 lowercase hex
  digits: the precision of the audit log's times, so a prediction and a deploy are never
  confused about which came first. Fixed width, so ids sort by time as plain strings (until the
  year 4253).
- tail: 8 hex digits, random for the first id of a microsecond and then counting up, so the ids
  one process mints sort in the order it minted them and two processes almost never collide.
- digest: the first 16 hex digits of the version's digest (its ``sha256:`` file-set digest), so
  an id names the content that answered, whatever the registry calls it.

``parse`` also accepts 12 to 64 digest digits, for ids minted with more (or fewer) of the digest.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from modelreg.errors import UsageError

TIME_DIGITS = 14
DIGEST_DIGITS = 16
MIN_DIGEST_DIGITS = 12
_ID_RE = re.compile(r"([0-9a-f]{14})-([0-9a-f]{8})-([0-9a-f]{12,64})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TAIL_LIMIT = 1 << 32
_lock = threading.Lock()
_last: list[int] = [-1, 0]  # the microsecond of the last id minted here, and its tail


@dataclass(frozen=True)
class PredictionId:
    micros: int
    digest_prefix: str  # hex digits, without "sha256:"
    tail: int

    @property
    def time(self) -> str:
        """The moment it was minted, RFC 3339 UTC as the audit log writes times."""
        return (_EPOCH + timedelta(microseconds=self.micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def __str__(self) -> str:
        return f"{self.micros:014x}-{self.tail:08x}-{self.digest_prefix}"


def mint(digest: str, *, now_ns: int | None = None) -> str:
    """A new id for a prediction of the version whose digest is ``digest`` (``sha256:<hex>``)."""
    hex_digits = digest.removeprefix("sha256:")
    if not re.fullmatch(r"[0-9a-f]{64}", hex_digits):
        raise UsageError(f"not a version digest: {digest!r} (expected sha256: and 64 hex digits)", code="invalid_input")
    micros = (time.time_ns() if now_ns is None else now_ns) // 1000
    with _lock:
        if micros <= _last[0] and _last[1] + 1 < _TAIL_LIMIT:
            # the same microsecond (or a clock stepped back): keep this process's order
            micros, tail = _last[0], _last[1] + 1
        else:
            tail = secrets.randbelow(_TAIL_LIMIT // 2)  # room to count up within the microsecond
        _last[0], _last[1] = micros, tail
    return str(PredictionId(micros, hex_digits[:DIGEST_DIGITS], tail))


def parse(text: str) -> PredictionId:
    """An id as ``mint`` writes it; UsageError (exit 2) for anything else."""
    match = _ID_RE.fullmatch(text.strip())
    if match is None:
        raise UsageError(
            f"invalid prediction id {text[:80]!r}: expected TIME-TAIL-DIGEST in lowercase hex "
            "(14, 8 and 12 to 64 digits), as modelreg.serving.prediction_id mints them",
            code="invalid_prediction_id",
        )
    return PredictionId(int(match.group(1), 16), match.group(3), int(match.group(2), 16))
