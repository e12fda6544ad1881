"""Signed requests and approvals: SSH signatures made and checked by the real ssh-keygen, bound to
the model, version number and digest, stage, request and decision. Keys are made in the test."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from support.governance import add_policy, refused
from support.results import ok_doc as ok

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")


def key(tmp_path: Path, who: str) -> Path:
    path = tmp_path / "keys" / who
    path.parent.mkdir(exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(path)], check=True)
    return path


def line(who: str, path: Path, options: str = "") -> str:
    kind, blob = Path(f"{path}.pub").read_text().split()[:2]
    return " ".join(x for x in (who, options, kind, blob) if x)


def setup(reg: Path, tmp_path: Path, lines: list[str], gate: str = "approvals = 1\nsigned_approvals = true") -> None:
    (reg / "allowed_signers").write_text("\n".join(lines) + "\n")
    add_policy(reg, f'[signing]\nallowed_signers = "allowed_signers"\n[gates.production]\n{gate}')


def version(cli, reg: Path, tmp_path: Path, content: str = "w1") -> int:  # type: ignore[no-untyped-def]
    src = tmp_path / f"src-{content}"
    src.mkdir()
    (src / "model.bin").write_text(content)
    return int(ok(cli("-R", reg, "register", "churn", src, "--json"))["version"])


def request(cli, reg: Path, number: int, *extra: object) -> str:  # type: ignore[no-untyped-def]
    data = ok(cli("-R", reg, "request", f"churn@{number}", "production", "--reason", "ship", "--author", "rita",
                  "--json", *extra))  # fmt: skip
    return str(data["id"])


def test_a_signed_approval_counts_and_an_unsigned_one_does_not(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alice = key(tmp_path, "alice")
    rita = key(tmp_path, "rita")
    setup(reg_path, tmp_path, [line("alice", alice), line("rita", rita)])
    n = version(cli, reg_path, tmp_path)
    rid = request(cli, reg_path, n, "--sign", rita)
    assert "signature" in yaml.safe_load((reg_path / f"models/churn/requests/{rid}.yaml").read_text())
    unsigned = ok(cli("-R", reg_path, "approve", rid, "--author", "alice", "--json"))
    assert unsigned["applied"] is False and unsigned["status"] == "open"
    check = json.loads(cli("-R", reg_path, "check", f"churn@{n}", "production", "--json").stdout)
    assert check["approvals"]["granted"] == 0
    # The same approver signs again: the signed approval replaces the unsigned one and applies it.
    signed = ok(cli("-R", reg_path, "approve", rid, "--author", "alice", "--sign", alice, "--json"))
    assert signed["applied"] is True
    assert ok(cli("-R", reg_path, "show", f"churn@{n}", "--json"))["stage"] == "production"
    log = ok(cli("-R", reg_path, "log", "churn", "--json"))["entries"]
    assert [e["action"] for e in log if e["action"] in ("approve", "promote")] == ["approve", "approve", "promote"]
    ok(cli("-R", reg_path, "verify"))


def test_a_key_not_given_to_the_approver_is_refused_and_nothing_recorded(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alice = key(tmp_path, "alice")
    mallory = key(tmp_path, "mallory")
    setup(reg_path, tmp_path, [line("alice", alice), line("mallory", mallory)])
    rid = request(cli, reg_path, version(cli, reg_path, tmp_path))
    before = (reg_path / "audit.jsonl").read_text()
    request_file = (reg_path / f"models/churn/requests/{rid}.yaml").read_text()
    # mallory's key claiming to be alice, and a key for another namespace.
    assert "allowed_signers" in refused(cli("-R", reg_path, "approve", rid, "--author", "alice", "--sign", mallory))
    setup_lines = [line("alice", alice, 'namespaces="git"')]
    (reg_path / "allowed_signers").write_text("\n".join(setup_lines) + "\n")
    assert "allowed_signers" in refused(cli("-R", reg_path, "approve", rid, "--author", "alice", "--sign", alice))
    assert (reg_path / "audit.jsonl").read_text() == before
    assert (reg_path / f"models/churn/requests/{rid}.yaml").read_text() == request_file


def _audit(reg: Path) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(x) for x in (reg / "audit.jsonl").read_text().splitlines() if x.strip()]


def test_an_approval_replayed_onto_another_request_fails_verify(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two versions with the same files are still two versions: an approval of version 1's
    request, copied into the log for version 2's request, does not verify."""
    alice = key(tmp_path, "alice")
    setup(reg_path, tmp_path, [line("alice", alice)], gate="approvals = 2\nsigned_approvals = true")
    one = version(cli, reg_path, tmp_path, "same")
    two = int(ok(cli("-R", reg_path, "register", "churn", tmp_path / "src-same" / "model.bin", "--json"))["version"])
    first, second = request(cli, reg_path, one), request(cli, reg_path, two)
    ok(cli("-R", reg_path, "approve", first, "--author", "alice", "--sign", alice))
    ok(cli("-R", reg_path, "verify"))
    entries = _audit(reg_path)
    signed = next(e for e in entries if e["action"] == "approve")
    assert signed["signature"].startswith("-----BEGIN SSH SIGNATURE-----")
    # Rewrite the approval to name the other request and version, then append it through the
    # library's own audit writer so the hash chain is intact: only the signature can tell.
    from modelreg import Registry
    from modelreg.ops.changes import record
    from modelreg.records.journal import Change

    reg = Registry.open(reg_path)
    forged = record("approve", "churn", two, actor="alice", from_stage="development", to_stage="production",
                    request=second, signature=signed["signature"], digest=signed["digest"])  # fmt: skip
    change = Change("churn")
    change.records.append(forged)
    with reg.model_lock("churn"):
        reg.commit(change)
    result = cli("-R", reg_path, "verify", "--json")
    assert result.exit_code == 5
    messages = [f["message"] for f in json.loads(result.stdout)["findings"]]
    assert any(f"request {second}" in m and "does not verify" in m for m in messages), messages


def test_an_approval_presented_for_another_stage_fails_verify(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alice = key(tmp_path, "alice")
    setup(reg_path, tmp_path, [line("alice", alice)], gate="approvals = 2")
    add_policy(reg_path, "[gates.staging]\napprovals = 2")
    n = version(cli, reg_path, tmp_path)
    prod = request(cli, reg_path, n)
    ok(cli("-R", reg_path, "approve", prod, "--author", "alice", "--sign", alice))
    signed = next(e for e in _audit(reg_path) if e["action"] == "approve")
    from modelreg import Registry
    from modelreg.ops.changes import record
    from modelreg.records.journal import Change

    reg = Registry.open(reg_path)
    forged = record("approve", "churn", n, actor="alice", from_stage="development", to_stage="staging",
                    request=prod, signature=signed["signature"], digest=signed["digest"])  # fmt: skip
    change = Change("churn")
    change.records.append(forged)
    with reg.model_lock("churn"):
        reg.commit(change)
    result = cli("-R", reg_path, "verify", "--json")
    assert result.exit_code == 5
    assert "replayed from another version or stage" in result.stdout


def test_a_signer_outside_valid_before_fails_verify_and_does_not_count(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alice = key(tmp_path, "alice")
    setup(reg_path, tmp_path, [line("alice", alice)], gate="approvals = 2\nsigned_approvals = true")
    rid = request(cli, reg_path, version(cli, reg_path, tmp_path))
    ok(cli("-R", reg_path, "approve", rid, "--author", "alice", "--sign", alice))
    ok(cli("-R", reg_path, "verify"))
    # The key is rotated out: valid before a date earlier than the approval's audit entry.
    (reg_path / "allowed_signers").write_text(line("alice", alice, 'valid-before="20200101Z"') + "\n")
    result = cli("-R", reg_path, "verify", "--json")
    assert result.exit_code == 5 and "does not verify" in result.stdout
    check = json.loads(cli("-R", reg_path, "check", "churn@1", "production", "--json").stdout)
    assert check["approvals"]["granted"] == 0
    # A window open at the time of the entry verifies again.
    (reg_path / "allowed_signers").write_text(line("alice", alice, 'valid-after="20200101Z"') + "\n")
    ok(cli("-R", reg_path, "verify"))


def test_a_dropped_signed_approval_and_a_key_inside_the_registry(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alice = key(tmp_path, "alice")
    setup(reg_path, tmp_path, [line("alice", alice)], gate="approvals = 2\nsigned_approvals = true")
    rid = request(cli, reg_path, version(cli, reg_path, tmp_path))
    inside = reg_path / "alice.key"
    shutil.copy(alice, inside)
    assert "inside the registry" in refused(
        cli("-R", reg_path, "approve", rid, "--author", "alice", "--sign", inside), 2
    )
    inside.unlink()
    ok(cli("-R", reg_path, "approve", rid, "--author", "alice", "--sign", alice))
    ok(cli("-R", reg_path, "verify"))
    audit = reg_path / "audit.jsonl"
    kept = [x for x in audit.read_text().splitlines() if '"action":"approve"' not in x.replace(" ", "")]
    audit.write_text("\n".join(kept) + "\n")
    assert cli("-R", reg_path, "verify").exit_code == 5


def test_an_allowed_signers_symlink_is_never_followed(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alice = key(tmp_path, "alice")
    outside = tmp_path / "elsewhere"
    outside.write_text(line("alice", alice) + "\n")
    (reg_path / "allowed_signers").symlink_to(outside)
    add_policy(reg_path, '[signing]\nallowed_signers = "allowed_signers"\n[gates.production]\napprovals = 1')
    rid = request(cli, reg_path, version(cli, reg_path, tmp_path))
    assert "symbolic link" in refused(cli("-R", reg_path, "approve", rid, "--author", "alice", "--sign", alice), 2)
    result = cli("-R", reg_path, "verify", "--json")
    assert result.exit_code == 5 and "symbolic link" in result.stdout
