"""OpenSSF Model Signing v1.0 signatures, built from the digests a version already holds.

The format: an in-toto Statement v1 whose one subject is the model (its name, and a SHA-256 over
the file digests in path order), with predicate type ``https://model_signing/signature/v1.0``
listing every file as a resource (``name``, ``algorithm``, ``digest``) and the serialization
that ``model_signing verify`` uses to hash the files again (``files``, SHA-256, ``model.sig``
ignored). The statement is the payload of a DSSE envelope signed with an elliptic-curve key
(ECDSA over the DSSE pre-authentication encoding), inside a Sigstore bundle v0.3 whose
verification material names the public key by the SHA-256 of its PEM form. Nothing is hashed
again to sign: a version's digests were verified when its bytes were stored.

``cryptography`` is imported here only.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelreg.errors import IntegrityError, UsageError
from modelreg.records.manifest import Version

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

PREDICATE_TYPE = "https://model_signing/signature/v1.0"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
SIGNATURE_NAME = "model.sig"
MAX_BUNDLE = 64 << 20
_CURVES = {"secp256r1": "sha256", "secp384r1": "sha384", "secp521r1": "sha512"}


def statement(version: Version) -> dict[str, Any]:
    files = sorted(version.files, key=lambda f: f.path)
    root = hashlib.sha256()
    resources = []
    for entry in files:
        hexdigest = entry.digest.removeprefix("sha256:")
        root.update(bytes.fromhex(hexdigest))
        resources.append({"name": entry.path, "algorithm": "sha256", "digest": hexdigest})
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": version.name, "digest": {"sha256": root.hexdigest()}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": {
                "method": "files",
                "hash_type": "sha256",
                "allow_symlinks": False,
                "ignore_paths": [SIGNATURE_NAME],
            },
            "resources": resources,
        },
    }


def pae(payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding."""
    return b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload), payload)


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """An EC private key in PEM (PKCS#8 or SEC1) or OpenSSH form; a passphrase from
    ``$MODELREG_KEY_PASSPHRASE``. Nothing about the key is kept."""
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read key {path}: {exc.strerror}", code="invalid_key") from None
    secret = os.environ.get("MODELREG_KEY_PASSPHRASE")
    password = secret.encode() if secret else None
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in raw:
            key: Any = serialization.load_ssh_private_key(raw, password)
        else:
            key = serialization.load_pem_private_key(raw, password)
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"cannot load key {path} ({exc}); a passphrase comes from $MODELREG_KEY_PASSPHRASE", code="invalid_key"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _CURVES:
        raise UsageError(
            f"{path} is not an elliptic-curve key on P-256, P-384 or P-521, which OpenSSF Model Signing needs "
            "(ssh-keygen -t ecdsa, or openssl ecparam -genkey -name prime256v1)",
            code="invalid_key",
        )
    return key


def _hash(curve: str) -> Any:
    from cryptography.hazmat.primitives import hashes

    kinds: dict[str, Any] = {"sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
    return kinds[_CURVES[curve]]()


def pem_hint(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def openssh_public(public_key: Any) -> str:
    """The public key as an ``allowed_signers`` line holds it: ``ecdsa-sha2-nistp256 AAAA...``."""
    from cryptography.hazmat.primitives import serialization

    text: bytes = public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return text.decode()


def load_certificates(key: ec.EllipticCurvePrivateKey, certificate: Path, chain: list[Path]) -> list[bytes]:
    """The signing certificate (which must certify ``key``) and its chain, as DER, for a bundle
    that ``model_signing verify certificate`` checks against a root of trust."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        leaf = x509.load_pem_x509_certificate(certificate.read_bytes())
        others = [c for path in chain for c in x509.load_pem_x509_certificates(path.read_bytes())]
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the certificates ({exc})", code="invalid_key") from None
    if leaf.public_key() != key.public_key():
        raise UsageError(f"{certificate} certifies another key than the one given with --key", code="invalid_key")
    return [c.public_bytes(serialization.Encoding.DER) for c in [leaf, *others]]


def sign(version: Version, key: ec.EllipticCurvePrivateKey, certificates: list[bytes] | None = None) -> str:
    """The Sigstore bundle (JSON text) signing ``version``'s files; with ``certificates`` (DER,
    the signing certificate first) the bundle carries the chain instead of a key hint."""
    from cryptography.hazmat.primitives.asymmetric import ec

    payload = json.dumps(statement(version), sort_keys=True, separators=(",", ":")).encode()
    signature = key.sign(pae(payload), ec.ECDSA(_hash(key.curve.name)))
    material: dict[str, Any] = {"publicKey": {"hint": pem_hint(key.public_key())}, "tlogEntries": []}
    if certificates:
        chain = [{"rawBytes": base64.b64encode(der).decode()} for der in certificates]
        material = {"x509CertificateChain": {"certificates": chain}, "tlogEntries": []}
    bundle = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": material,
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(signature).decode(), "keyid": ""}],
        },
    }
    return json.dumps(bundle, indent=2, sort_keys=True) + "\n"


def public_key_from_openssh(text: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_ssh_public_key(text.encode())
    except (ValueError, TypeError, UnicodeEncodeError):
        raise IntegrityError(f"not a public key: {text[:40]!r}", code="bad_signature") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVES:
        raise IntegrityError("the signing key is not an elliptic-curve key", code="bad_signature")
    return key


def open_bundle(bundle: str, public_key: Any) -> dict[str, Any]:
    """The statement a bundle signs, once its signature verifies with ``public_key``; an
    IntegrityError naming what is wrong otherwise."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec

    def bad(why: str) -> IntegrityError:
        return IntegrityError(why, code="bad_signature")

    try:
        data = json.loads(bundle)
        envelope = data["dsseEnvelope"]
        payload = base64.b64decode(envelope["payload"], validate=True)
        sig = base64.b64decode(envelope["signatures"][0]["sig"], validate=True)
        material = data["verificationMaterial"]
        named = _named_key(material)
    except (ValueError, KeyError, IndexError, TypeError):
        raise bad("the signature is not a Sigstore bundle of a DSSE envelope") from None
    if data.get("mediaType") != BUNDLE_MEDIA_TYPE or envelope.get("payloadType") != PAYLOAD_TYPE:
        raise bad("the signature is not an OpenSSF Model Signing bundle")
    if named != pem_hint(public_key):
        raise bad("the bundle names another public key than the one recorded")
    try:
        public_key.verify(sig, pae(payload), ec.ECDSA(_hash(public_key.curve.name)))
    except InvalidSignature:
        raise bad("the signature does not verify with its public key") from None
    try:
        parsed = json.loads(payload)
    except ValueError:
        raise bad("the signed statement is not JSON") from None
    if not isinstance(parsed, dict) or parsed.get("_type") != STATEMENT_TYPE:
        raise bad("the signed statement is not an in-toto statement")
    return parsed


def _named_key(material: dict[str, Any]) -> str:
    """The PEM hash of the key a bundle names: its hint, or its signing certificate's key."""
    if "publicKey" in material:
        return str(material["publicKey"]["hint"])
    from cryptography import x509

    der = base64.b64decode(material["x509CertificateChain"]["certificates"][0]["rawBytes"], validate=True)
    return pem_hint(x509.load_der_x509_certificate(der).public_key())


def signed_files(stmt: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The model name and path -> ``sha256:<hex>`` a statement signs."""
    try:
        name = stmt["subject"][0]["name"]
        resources = stmt["predicate"]["resources"]
        files = {r["name"]: "sha256:" + r["digest"] for r in resources if r["algorithm"] == "sha256"}
    except (KeyError, IndexError, TypeError):
        raise IntegrityError("the signed statement lacks its model or resources", code="bad_signature") from None
    if stmt.get("predicateType") != PREDICATE_TYPE or len(files) != len(resources):
        raise IntegrityError("the signed statement is not an OpenSSF Model Signing v1.0 one", code="bad_signature")
    return str(name), files


def mismatch(version: Version, stmt: dict[str, Any]) -> str | None:
    """What differs between the files a statement signs and the version's files, if anything."""
    name, signed = signed_files(stmt)
    held = {f.path: f.digest for f in version.files}
    if name != version.name:
        return f"it signs model {name!r}"
    if signed == held:
        return None
    changed = sorted(p for p in held.keys() & signed.keys() if held[p] != signed[p])
    extra = sorted(held.keys() - signed.keys())
    missing = sorted(signed.keys() - held.keys())
    parts = [f"{p} differs" for p in changed[:3]] + [f"{p} unsigned" for p in extra[:3]]
    parts += [f"{p} missing" for p in missing[:3]]
    return ", ".join(parts)
