"""The ALLOWED SIGNERS file of ``ssh-keygen`` (``[signing] allowed_signers``): who may sign.

One entry a line: principals (comma-separated patterns), optional options (``namespaces="..."``,
``valid-after=TIME``, ``valid-before=TIME``, ``cert-authority``), a key type and a base64 key.
TIME is ``YYYYMMDD[HHMM[SS]]`` with an optional ``Z`` for UTC, else local time, as ssh-keygen
reads it. SSH signatures are checked by ssh-keygen itself against this file; the version
signatures (OpenSSF Model Signing) are matched here, with the same rules.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from modelreg.records.requests import person

_KEY_TYPES = re.compile(r"(ssh-|ecdsa-|sk-|rsa-)[A-Za-z0-9@.-]+")
_TIME = re.compile(r"(\d{8})(\d{4}(\d{2})?)?(Z?)")


class AllowedSignersError(ValueError):
    """A line the parser cannot read; the caller names the file."""


@dataclass(frozen=True)
class Signer:
    principals: tuple[str, ...]
    key_type: str
    key: str  # base64 of the key blob
    namespaces: tuple[str, ...] | None = None
    valid_after: datetime | None = None
    valid_before: datetime | None = None
    cert_authority: bool = False
    line: int = 0

    @property
    def public_key(self) -> str:
        return f"{self.key_type} {self.key}"

    def names(self, identity: str) -> bool:
        who = person(identity)
        return any(fnmatch.fnmatchcase(who, person(p)) for p in self.principals)

    def allows(self, namespace: str) -> bool:
        return self.namespaces is None or any(fnmatch.fnmatchcase(namespace, n) for n in self.namespaces)

    def valid_at(self, when: datetime) -> bool:
        if self.valid_after is not None and when < self.valid_after:
            return False
        return not (self.valid_before is not None and when > self.valid_before)


def parse_time(text: str) -> datetime:
    match = _TIME.fullmatch(text)
    if not match:
        raise AllowedSignersError(f"time {text!r} is not YYYYMMDD[HHMM[SS]][Z]")
    digits = match.group(1) + (match.group(2) or "0000")
    if len(digits) == 12:
        digits += "00"
    try:
        moment = datetime.strptime(digits, "%Y%m%d%H%M%S")
    except ValueError:
        raise AllowedSignersError(f"time {text!r} is not a date") from None
    return moment.replace(tzinfo=UTC) if match.group(4) else moment.astimezone()


def _tokens(line: str) -> list[str]:
    """Whitespace-separated fields; double quotes keep spaces and commas inside one."""
    out: list[str] = []
    current = ""
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
            current += char
        elif char.isspace() and not quoted:
            if current:
                out.append(current)
                current = ""
        else:
            current += char
    if quoted:
        raise AllowedSignersError("an unterminated quote")
    if current:
        out.append(current)
    return out


def _options(text: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    parts: list[str] = []
    current = ""
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    for part in parts:
        key, sep, value = part.partition("=")
        found[key.strip().lower()] = value.strip('"') if sep else None
    return found


def parse_allowed_signers(text: str) -> list[Signer]:
    signers = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fields = _tokens(line)
            if len(fields) < 3:
                raise AllowedSignersError("needs principals, a key type and a key")
            principals = tuple(p for p in fields[0].strip('"').split(",") if p)
            rest = fields[1:]
            options: dict[str, str | None] = {}
            if not _KEY_TYPES.fullmatch(rest[0]):
                options = _options(rest[0])
                rest = rest[1:]
            if len(rest) < 2 or not _KEY_TYPES.fullmatch(rest[0]):
                raise AllowedSignersError("has no key type where one is expected")
            unknown = sorted(set(options) - {"namespaces", "valid-after", "valid-before", "cert-authority"})
            if unknown:
                raise AllowedSignersError(f"unknown option {unknown[0]!r}")
            namespaces = options.get("namespaces")
            after, before = options.get("valid-after"), options.get("valid-before")
            signers.append(
                Signer(
                    principals=principals,
                    key_type=rest[0],
                    key=rest[1],
                    namespaces=None if namespaces is None else tuple(n for n in namespaces.split(",") if n),
                    valid_after=parse_time(after) if after else None,
                    valid_before=parse_time(before) if before else None,
                    cert_authority="cert-authority" in options,
                    line=number,
                )
            )
        except AllowedSignersError as exc:
            raise AllowedSignersError(f"line {number}: {exc}") from None
    return signers


def identities_for(
    signers: list[Signer], public_key: str, namespace: str, when: datetime, actor: str | None = None
) -> tuple[list[str], str | None]:
    """Who ``public_key`` may sign as in ``namespace`` at ``when``: the acting identity when an
    entry's principals match it, else the literal principals; and why none, when none."""
    type_and_key = " ".join(public_key.split()[:2])
    entries = [s for s in signers if not s.cert_authority and s.public_key == type_and_key]
    if not entries:
        return [], "its key is in no allowed_signers entry"
    entries = [s for s in entries if s.allows(namespace)]
    if not entries:
        return [], f"its allowed_signers entry does not allow namespace {namespace}"
    timely = [s for s in entries if s.valid_at(when)]
    if not timely:
        return [], f"its key was not valid at {when.isoformat()} (valid-after/valid-before)"
    if actor is not None:
        if any(s.names(actor) for s in timely):
            return [actor], None
        return [], f"allowed_signers does not give its key to {actor}"
    found: list[str] = []
    for s in timely:
        found += [p for p in s.principals if not any(c in p for c in "*?!") and p not in found]
    return found, None if found else "its allowed_signers entry names only patterns"
