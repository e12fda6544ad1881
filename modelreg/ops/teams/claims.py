"""The claim protocol: a version number is taken by creating its claim object, once, forever.

The next number of a model is the first ``n``, counting up from a hint (one past the highest number
this clone or the engine knows), whose claim ``create`` stores. A claim names its writer by a
random nonce, so a writer whose ``create`` was applied but whose answer was lost finds its own
nonce when it reads the claim back, and keeps that number instead of taking a second one. A claim
whose writer died before recording its version keeps its number: nobody else may ever take it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

from modelreg.errors import IntegrityError
from modelreg.ops.teams.engine import Engine
from modelreg.records.names import MAX_VERSION

CLAIM_FORMAT = 1
_NONCE_HEX = 32
_VANISHED_LIMIT = 5
_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?Z")


@dataclass(frozen=True)
class Claim:
    model: str
    version: int
    nonce: str
    actor: str
    time: str
    host: str

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")) + "\n").encode()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CLAIM_FORMAT,
            "model": self.model,
            "version": self.version,
            "nonce": self.nonce,
            "actor": self.actor,
            "time": self.time,
            "host": self.host,
        }

    @classmethod
    def parse(cls, raw: bytes, model: str, number: int, where: str) -> Claim:
        """A claim read from the engine; IntegrityError when it is not one for ``model@number``."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        strings = ("nonce", "actor", "time", "host")
        if (
            not isinstance(data, dict)
            or data.get("format") != CLAIM_FORMAT
            or data.get("model") != model
            or data.get("version") != number
            or isinstance(data.get("version"), bool)
            or not all(isinstance(data.get(k), str) and _PRINTABLE.fullmatch(data[k]) for k in strings)
            or not _TIME.fullmatch(data["time"])
        ):
            raise IntegrityError(f"the claim of {model}@{number} on {where} is not a valid claim", code="corrupt_claim")
        return cls(model, number, data["nonce"], data["actor"], data["time"], data["host"])


def new_nonce() -> str:
    return os.urandom(_NONCE_HEX // 2).hex()


def host_name() -> str:
    import socket  # only with a claim engine

    return socket.gethostname()[:200] or "unknown"


@dataclass(frozen=True)
class Claimed:
    claim: Claim
    attempts: int  # create calls it took (1: the first number tried was free)


def read_claim(engine: Engine, model: str, number: int) -> Claim | None:
    raw = engine.read_claim(model, number)
    return None if raw is None else Claim.parse(raw, model, number, engine.name)


def claim_next(engine: Engine, model: str, hint: int, *, actor: str, time: str) -> Claimed:
    """Claim the first free number of ``model`` from ``max(hint, highest claimed + 1)``."""
    claimed = engine.claimed(model)
    number = max(hint, (claimed[-1] + 1) if claimed else 1, 1)
    nonce = new_nonce()
    host = host_name()
    attempts = vanished = 0
    while True:
        if number > MAX_VERSION:
            from modelreg.errors import ConflictError

            raise ConflictError(
                f"model {model!r} has claimed {MAX_VERSION} version numbers, the most a model can hold",
                code="version_limit",
            )
        mine = Claim(model, number, nonce, actor, time, host)
        attempts += 1
        if engine.create_claim(model, number, mine.to_bytes()):
            return Claimed(mine, attempts)
        held = read_claim(engine, model, number)
        if held is None:
            # The create lost to a write that did not stay (a conflict answer): try n again.
            vanished += 1
            if vanished > _VANISHED_LIMIT:
                from modelreg.errors import RemoteError

                raise RemoteError(
                    f"{engine.name} refuses to create the claim of {model}@{number} and holds none: "
                    "it does not honour conditional writes (see 'modelreg remote check')",
                    code="claims_unavailable",
                )
            continue
        if held.nonce == nonce:
            return Claimed(held, attempts)  # our own create was applied, its answer lost
        # Lost to another writer: others are likely racing too, so look again where the claims
        # end rather than trying each number in turn (every number below that end is claimed).
        claimed = engine.claimed(model)
        number = max(number + 1, (claimed[-1] + 1) if claimed else 1)
