"""``models/NAME/signatures/N.yaml``: the signatures of version N (OpenSSF Model Signing bundles).

Written through a change beside the version (its manifest is never rewritten), one entry per
signature: who signed (as allowed_signers named them then), the public key, when, and the
Sigstore bundle as text. Each signature is also an audit entry (``sign``) holding the bundle's
digest, which is what verify trusts: a signature the log does not record does not count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SIGNATURES_FORMAT = 1
SIGNATURES_DIR = "signatures"
MAX_BUNDLE_TEXT = 16 << 20


class SignaturesSchemaError(ValueError):
    """A signatures file that does not follow the schema; the caller names the file."""


@dataclass(frozen=True)
class VersionSignature:
    signer: str
    public_key: str  # OpenSSH form: "ecdsa-sha2-nistp256 AAAA..."
    signed_at: str
    bundle: str  # the Sigstore bundle (JSON text) as model.sig holds it

    def to_json(self) -> dict[str, Any]:
        return {
            "signer": self.signer,
            "public_key": self.public_key,
            "signed_at": self.signed_at,
            "bundle": self.bundle,
        }

    @property
    def digest(self) -> str:
        import hashlib

        return "sha256:" + hashlib.sha256(self.bundle.encode()).hexdigest()


def signatures_data(name: str, version: int, signatures: list[VersionSignature]) -> dict[str, Any]:
    return {
        "format_version": SIGNATURES_FORMAT,
        "name": name,
        "version": version,
        "signatures": [s.to_json() for s in signatures],
    }


def parse_signatures(data: Any, name: str, version: int) -> list[VersionSignature]:
    if not isinstance(data, dict) or data.get("format_version") != SIGNATURES_FORMAT:
        raise SignaturesSchemaError("not a signatures file of a supported format_version")
    if data.get("name") != name or data.get("version") != version:
        raise SignaturesSchemaError(f"names {data.get('name')!r}@{data.get('version')!r}, not {name}@{version}")
    items = data.get("signatures")
    if not isinstance(items, list):
        raise SignaturesSchemaError("'signatures' must be a list")
    found = []
    for item in items:
        if not isinstance(item, dict) or not all(
            isinstance(item.get(k), str) for k in ("signer", "public_key", "signed_at", "bundle")
        ):
            raise SignaturesSchemaError("each signature needs signer, public_key, signed_at and bundle")
        if len(item["bundle"]) > MAX_BUNDLE_TEXT:
            raise SignaturesSchemaError("a signature bundle is too large")
        found.append(VersionSignature(item["signer"], item["public_key"], item["signed_at"], item["bundle"]))
    return found
