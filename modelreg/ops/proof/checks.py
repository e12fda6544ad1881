"""verify's part for proof: recorded file facts, version signatures and approval signatures.

A manifest's facts (format, imports) must be those its register entry fingerprinted, so a
hand-edited manifest cannot turn an unsafe file safe. Every signature present is checked
against what it signed and, where ``[signing] allowed_signers`` is configured, against who may
sign and when (ops/proof/sign.py, ops/proof/approvals.py).
"""

from __future__ import annotations

from typing import Any

from modelreg.ops.findings import ERROR, Finding
from modelreg.records.manifest import Version, facts_digest
from modelreg.repo import Repo


def facts_findings(reg: Repo, versions: list[Version], entries: list[dict[str, Any]]) -> list[Finding]:
    recorded: dict[int, Any] = {
        e["version"]: e.get("facts")
        for e in entries
        if e.get("action") == "register" and isinstance(e.get("version"), int)
    }
    found = []
    for version in versions:
        if version.version not in recorded:
            continue  # a version without its register entry is reported by the history check
        if facts_digest(version.files) != recorded[version.version]:
            found.append(
                Finding(
                    ERROR,
                    "manifest",
                    str(reg.manifest_path(version.name, version.version)),
                    f"the file formats and imports of {version.name}@{version.version} differ from those recorded "
                    "when it was registered (edited by hand?)",
                )
            )
    return found


def proof_findings(reg: Repo, name: str, numbers: set[int], entries: list[dict[str, Any]]) -> list[Finding]:
    """Every proof finding of one model (``numbers``: its versions whose manifests loaded)."""
    from modelreg.errors import ModelregError

    state = reg.state(name)
    versions = []
    for number in sorted(numbers):
        try:
            versions.append(reg.load_version(state, number))
        except ModelregError:
            continue  # reported by the manifest check
    found = facts_findings(reg, versions, entries)
    from .sign import signature_findings

    found += signature_findings(reg, state, versions, entries)
    from .approvals import approval_findings

    found += approval_findings(reg, name, entries)
    return found
