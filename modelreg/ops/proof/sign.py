"""``sign NAME@REF --key KEY`` (and ``register --sign KEY``): a version's files signed in the
OpenSSF Model Signing format, kept beside the version; checking them for verify and gates.

The key is read for the signature and never stored: the registry keeps the public key, the
bundle and who signed, as ``allowed_signers`` names the key's owner. With ``allowed_signers``
configured, a key it gives to nobody (for namespace ``modelreg-version@v1``, at this time) is
refused; without it, the signer is the acting identity and verify warns that signers are
unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from modelreg.errors import ConflictError, IntegrityError, ModelregError, PolicyError, UsageError
from modelreg.ops.findings import ERROR, WARNING, Finding
from modelreg.records.allowed_signers import AllowedSignersError, Signer, identities_for, parse_allowed_signers
from modelreg.records.journal import Change
from modelreg.records.manifest import Version
from modelreg.records.refs import Ref, parse_ref
from modelreg.records.signatures import (
    SIGNATURES_DIR,
    SignaturesSchemaError,
    VersionSignature,
    parse_signatures,
    signatures_data,
)
from modelreg.records.state import ModelState
from modelreg.repo import Repo

VERSION_NAMESPACE = "modelreg-version@v1"


@dataclass(frozen=True)
class SignResult:
    version: Version
    signature: VersionSignature

    def to_json(self) -> dict[str, Any]:
        data = self.signature.to_json()
        del data["bundle"]
        return {"name": self.version.name, "version": self.version.version, "digest": self.version.digest, **data}


def signatures_path(repo: Repo, name: str, number: int) -> Path:
    return repo.model_dir(name) / SIGNATURES_DIR / f"{number}.yaml"


def allowed_signers(repo: Repo) -> list[Signer] | None:
    """The parsed ``[signing] allowed_signers`` file, or None when none is configured."""
    rel = repo.config.allowed_signers
    if rel is None:
        return None
    from modelreg.base.fs import read_limited

    path = allowed_signers_path(repo)
    assert path is not None
    try:
        text = read_limited(path, 1 << 20).decode("utf-8")
    except FileNotFoundError:
        raise UsageError(f"signing.allowed_signers names {rel}, which does not exist", code="invalid_config") from None
    except (OSError, OverflowError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the allowed signers ({exc})", code="invalid_config") from None
    try:
        return parse_allowed_signers(text)
    except AllowedSignersError as exc:
        raise UsageError(f"{path}: {exc}", code="invalid_config") from None


def allowed_signers_path(repo: Repo) -> Path | None:
    """The file ssh-keygen reads; never a symlink (nothing in a registry is followed out of it)."""
    import os

    rel = repo.config.allowed_signers
    if rel is None:
        return None
    path = repo.tree.inside(repo.root / rel)
    if os.path.islink(path):
        raise UsageError(f"{path} is a symbolic link: modelreg never follows links inside a registry")
    return path


def load_signatures(repo: Repo, name: str, number: int) -> list[VersionSignature]:
    import os

    path = signatures_path(repo, name, number)
    if not os.path.lexists(path):
        return []
    try:
        return parse_signatures(repo.load(path, "signatures file", cached=False), name, number)
    except SignaturesSchemaError as exc:
        raise IntegrityError(f"{path}: {exc}", code="corrupt_manifest") from None


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sign_version(
    repo: Repo,
    ref: Ref | str,
    key_path: Path,
    *,
    actor: str | None = None,
    certificate: Path | None = None,
    chain: list[Path] | None = None,
) -> SignResult:
    """Sign the version ``ref`` names with the EC key at ``key_path``; with ``certificate`` (and
    its ``chain``) the bundle carries the certificates, for ``model_signing verify certificate``."""
    from modelreg.ops.capture.lineage import author, now_utc
    from modelreg.ops.changes import record, write_yaml
    from modelreg.ops.events import hooks
    from modelreg.ops.queries.resolve import resolve_in

    from . import oms

    if isinstance(ref, str):
        ref = parse_ref(ref)
    who = author(actor)
    key, public, signer = prepare_key(repo, key_path, who)
    certificates = None if certificate is None else oms.load_certificates(key, certificate, chain or [])
    when = now_utc()
    name = ref.name
    with repo.model_lock(name):
        state = repo.locked_state(name)
        version = resolve_in(repo, state, ref)
        if version.removed:
            raise ConflictError(f"{name}@{version.version} was removed; it is not signed any more", code="removed")
        signature = VersionSignature(signer, public, when, oms.sign(version, key, certificates))
        kept = [s for s in load_signatures(repo, name, version.version) if s.public_key != public]
        change = Change(name)
        write_yaml(
            repo,
            change,
            signatures_path(repo, name, version.version),
            signatures_data(name, version.version, [*kept, signature]),
        )
        change.records.append(
            record(
                "sign", name, version.version, actor=who, signer=signer, digest=version.digest,
                bundle=signature.digest, key=_fingerprint(public),
            )
        )  # fmt: skip
        entries = repo.commit(change)
    hooks.after(repo, entries)
    return SignResult(version, signature)


def prepare_key(repo: Repo, key_path: Path, who: str) -> tuple[Any, str, str]:
    """The private key, its public half and the identity it signs as; refused (exit 4) when
    allowed_signers gives the key to nobody for versions, now."""
    from modelreg.ops.capture.lineage import now_utc

    from . import oms

    refuse_key_inside(repo, key_path)
    key = oms.load_private_key(key_path)
    public = oms.openssh_public(key.public_key())
    signers = allowed_signers(repo)
    if signers is None:
        return key, public, who
    names, why = identities_for(signers, public, VERSION_NAMESPACE, _moment(now_utc()))
    if not names:
        raise PolicyError(f"refused: the key {key_path} may not sign versions here: {why}")
    mine = [n for n in names if n.casefold() == who.casefold()]
    if mine:
        return key, public, mine[0]
    if len(names) > 1:
        raise PolicyError(
            f"refused: the key {key_path} belongs to {', '.join(names)} in allowed_signers; say which with --author"
        )
    return key, public, names[0]


def refuse_key_inside(repo: Repo, key_path: Path) -> None:
    """Keys never enter the registry: a private key inside it would be committed with it."""
    try:
        inside = key_path.resolve().is_relative_to(repo.root.resolve())
    except OSError:
        inside = False
    if inside:
        raise UsageError(
            f"{key_path} is inside the registry, where git would share it: keep private keys outside it",
            code="invalid_key",
        )


def _fingerprint(public: str) -> str:
    import base64
    import hashlib

    blob = base64.b64decode(public.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def check_signature(
    repo: Repo,
    version: Version,
    signature: VersionSignature,
    signers: list[Signer] | None,
    entry: dict[str, Any] | None,
) -> str | None:
    """What is wrong with one signature of ``version``, or None when it holds."""
    from . import oms

    if entry is None:
        return f"the signature by {signature.signer} is not in the audit log (added by hand?)"
    if entry.get("digest") != version.digest:
        return f"the signature by {signature.signer} was made for another file set than the version holds"
    try:
        stmt = oms.open_bundle(signature.bundle, oms.public_key_from_openssh(signature.public_key))
        wrong = oms.mismatch(version, stmt)
    except IntegrityError as exc:
        return f"the signature by {signature.signer} is invalid: {exc.message}"
    if wrong:
        return f"the signature by {signature.signer} does not match the files: {wrong}"
    if signers is not None:
        when = _moment(str(entry.get("time")))
        names, why = identities_for(signers, signature.public_key, VERSION_NAMESPACE, when, signature.signer)
        if not names:
            return f"the signer {signature.signer} is not allowed: {why}"
    return None


def _entries_for(entries: list[dict[str, Any]], number: int) -> dict[str, dict[str, Any]]:
    return {
        str(e.get("bundle")): e
        for e in entries
        if e.get("action") == "sign" and e.get("version") == number and isinstance(e.get("bundle"), str)
    }


def signers_of(repo: Repo, version: Version) -> tuple[list[str], list[str]]:
    """The identities whose signature of ``version`` holds, and what was wrong with the others."""
    entries = _entries_for(repo.history_view.entries(version.name), version.version)
    signers = allowed_signers(repo)
    good, problems = [], []
    for signature in load_signatures(repo, version.name, version.version):
        problem = check_signature(repo, version, signature, signers, entries.get(signature.digest))
        if problem is None:
            good.append(signature.signer)
        else:
            problems.append(problem)
    return good, problems


def served_signature(repo: Repo, version: Version) -> dict[str, bytes]:
    """``{"model.sig": bundle}``: the newest signature of the version that holds."""
    from modelreg.errors import NotFoundError

    from . import oms

    signatures = load_signatures(repo, version.name, version.version)
    if not signatures:
        raise NotFoundError(
            f"{version.name}@{version.version} is not signed; sign it with: modelreg sign "
            f"{version.name}@{version.version} --key KEY",
            code="unsigned",
        )
    entries = _entries_for(repo.history_view.entries(version.name), version.version)
    signers = allowed_signers(repo)
    for signature in sorted(signatures, key=lambda s: s.signed_at, reverse=True):
        problem = check_signature(repo, version, signature, signers, entries.get(signature.digest))
        if problem is None:
            return {oms.SIGNATURE_NAME: signature.bundle.encode()}
        last = problem
    raise IntegrityError(f"{version.name}@{version.version}: {last}", code="bad_signature")


def signature_findings(
    repo: Repo, state: ModelState, versions: list[Version], entries: list[dict[str, Any]]
) -> list[Finding]:
    found: list[Finding] = []
    try:
        signers = allowed_signers(repo)
    except UsageError as exc:
        return [Finding(ERROR, "signature", str(repo.root / "modelreg.toml"), exc.message)]
    unchecked = False
    for version in versions:
        path = signatures_path(repo, version.name, version.version)
        try:
            signatures = load_signatures(repo, version.name, version.version)
        except ModelregError as exc:
            found.append(Finding(ERROR, "signature", str(path), exc.message))
            continue
        by_bundle = _entries_for(entries, version.version)
        for signature in signatures:
            problem = check_signature(repo, version, signature, signers, by_bundle.get(signature.digest))
            if problem:
                found.append(Finding(ERROR, "signature", str(path), f"{version.name}@{version.version}: {problem}"))
            unchecked = unchecked or signers is None
    if unchecked:
        found.append(
            Finding(
                WARNING,
                "signature",
                str(repo.root / "modelreg.toml"),
                f"signatures of {state.index.name} match their files, but no [signing] allowed_signers is "
                "configured: who signed is unchecked",
            )
        )
    return found
