"""Version signatures in the OpenSSF Model Signing format, checked by OpenSSF's own unmodified
``model_signing`` command line: it accepts the files modelreg serves with model.sig, and
rejects them once a byte changes. Keys are made in the test with the real ssh-keygen."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.governance import add_policy, refused
from support.results import ok_doc as ok

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen is not installed")


def _cli_tool() -> list[str]:
    pytest.importorskip("model_signing", reason="the test extra installs model-signing")
    return [sys.executable, "-m", "model_signing"]


def make_key(tmp_path: Path, who: str, kind: str = "ecdsa") -> tuple[Path, Path]:
    """An OpenSSH private key, and its public half as PEM for model_signing."""
    key = tmp_path / f"{who}.key"
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", who, "-f", str(key)], check=True)
    pem = tmp_path / f"{who}.pem"
    if kind == "ecdsa":
        exported = subprocess.run(
            ["ssh-keygen", "-e", "-m", "PKCS8", "-f", f"{key}.pub"], check=True, capture_output=True, text=True
        )
        pem.write_text(exported.stdout)
    return key, pem


def allow(reg: Path, lines: list[str]) -> None:
    (reg / "allowed_signers").write_text("\n".join(lines) + "\n")
    if "[signing]" not in (reg / "modelreg.toml").read_text():
        add_policy(reg, '[signing]\nallowed_signers = "allowed_signers"')


def entry(who: str, key: Path, options: str = "") -> str:
    public = Path(f"{key}.pub").read_text().split()
    return " ".join(x for x in (who, options, public[0], public[1]) if x)


def model(tmp_path: Path) -> Path:
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "weights.bin").write_bytes(bytes(range(256)) * 64)
    (src / "sub" / "config.json").write_text('{"a": 1}')
    return src


def verify_with_cli(directory: Path, pem: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_cli_tool(), "verify", "key", str(directory), "--signature", str(directory / "model.sig"),
         "--public_key", str(pem)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_model_signing_accepts_served_files_and_rejects_a_changed_byte(
    cli, run, reg_path: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    key, pem = make_key(tmp_path, "alice")
    allow(reg_path, [entry("alice", key)])
    data = ok(cli("-R", reg_path, "register", "churn", model(tmp_path), "--sign", key, "--author", "alice", "--json"))
    assert data["version"] == 1
    log = ok(cli("-R", reg_path, "log", "churn", "--json"))
    signs = [e for e in log["entries"] if e["action"] == "sign"]
    assert len(signs) == 1 and signs[0]["actor"] == "alice"
    out = tmp_path / "served"
    done = run("-R", reg_path, "get", "churn@1", "--output", out, "--signature")
    assert done.returncode == 0, done.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "model.sig", "sub/config.json", "weights.bin"]  # fmt: skip
    accepted = verify_with_cli(out, pem)
    assert accepted.returncode == 0, accepted.stderr
    ok(cli("-R", reg_path, "promote", "churn@1", "production"))
    production = tmp_path / "production"
    assert run("-R", reg_path, "get-production", "churn", "--output", production, "--signature").returncode == 0
    assert verify_with_cli(production, pem).returncode == 0
    exported = tmp_path / "exported"
    assert run("-R", reg_path, "export", "churn@1", exported, "--signature").returncode == 0
    assert verify_with_cli(exported, pem).returncode == 0
    raw = bytearray((out / "weights.bin").read_bytes())
    raw[1000] ^= 1
    (out / "weights.bin").write_bytes(bytes(raw))
    rejected = verify_with_cli(out, pem)
    assert rejected.returncode != 0 and "weights.bin" in rejected.stderr
    # Another key's public half does not verify the bundle either.
    _, other_pem = make_key(tmp_path, "mallory")
    assert verify_with_cli(exported, other_pem).returncode != 0
    ok(cli("-R", reg_path, "verify"))


def test_sign_refuses_a_key_allowed_signers_gives_to_nobody(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alice, _ = make_key(tmp_path, "alice")
    mallory, _ = make_key(tmp_path, "mallory")
    allow(reg_path, [entry("alice", alice)])
    ok(cli("-R", reg_path, "register", "churn", model(tmp_path)))
    before = (reg_path / "audit.jsonl").read_text()
    assert "may not sign" in refused(cli("-R", reg_path, "sign", "churn@1", "--key", mallory))
    assert (reg_path / "audit.jsonl").read_text() == before
    assert not (reg_path / "models/churn/signatures").exists()
    # A key limited to another namespace may not sign versions either.
    allow(reg_path, [entry("alice", alice, 'namespaces="modelreg-approval@v1"')])
    assert "namespace" in refused(cli("-R", reg_path, "sign", "churn@1", "--key", alice))
    # An Ed25519 key cannot make an OpenSSF Model Signing signature: a usage error.
    ed, _ = make_key(tmp_path, "ed", kind="ed25519")
    assert "elliptic-curve" in refused(cli("-R", reg_path, "sign", "churn@1", "--key", ed), 2)


def test_verify_rejects_a_signature_over_other_files_or_outside_its_window(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    alice, _ = make_key(tmp_path, "alice")
    allow(reg_path, [entry("alice", alice)])
    ok(cli("-R", reg_path, "register", "churn", model(tmp_path)))
    (tmp_path / "model" / "weights.bin").write_bytes(b"other weights")
    ok(cli("-R", reg_path, "register", "churn", tmp_path / "model"))
    ok(cli("-R", reg_path, "sign", "churn@1", "--key", alice, "--author", "alice"))
    ok(cli("-R", reg_path, "verify"))
    # The signature of version 1 copied onto version 2 (same key, other files) fails verify.
    sigs = reg_path / "models/churn/signatures"
    data = yaml.safe_load((sigs / "1.yaml").read_text())
    data["version"] = 2
    (sigs / "2.yaml").write_text(yaml.safe_dump(data))
    result = cli("-R", reg_path, "verify", "--json")
    assert result.exit_code == 5 and "churn@2" in result.stdout
    (sigs / "2.yaml").unlink()
    ok(cli("-R", reg_path, "verify"))
    # The signer's key stopped being valid before the signature's audit entry: exit 5.
    allow(reg_path, [entry("alice", alice, 'valid-before="20200101Z"')])
    result = cli("-R", reg_path, "verify", "--json")
    assert result.exit_code == 5
    assert "not valid at" in json.loads(result.stdout)["findings"][0]["message"]


def test_signed_by_gate(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bot, _ = make_key(tmp_path, "release-bot")
    alice, _ = make_key(tmp_path, "alice")
    allow(reg_path, [entry("release-bot", bot), entry("alice", alice)])
    add_policy(reg_path, '[gates.production]\nsigned_by = ["release-bot"]')
    ok(cli("-R", reg_path, "register", "churn", model(tmp_path)))
    assert "no valid signature" in refused(cli("-R", reg_path, "promote", "churn@1", "production"))
    ok(cli("-R", reg_path, "sign", "churn@1", "--key", alice))
    assert "none of them required" in refused(cli("-R", reg_path, "promote", "churn@1", "production"))
    signed = ok(cli("-R", reg_path, "sign", "churn@1", "--key", bot, "--json"))
    assert signed["signer"] == "release-bot"
    ok(cli("-R", reg_path, "promote", "churn@1", "production"))


def test_signature_output_needs_a_signature_and_an_output(cli, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ok(cli("-R", reg_path, "register", "churn", model(tmp_path)))
    assert "not signed" in refused(cli("-R", reg_path, "export", "churn", tmp_path / "x", "--signature"), 3)
    assert not (tmp_path / "x").exists()
    assert "--output" in refused(cli("-R", reg_path, "get", "churn", "--signature"), 2)


def _certificate(subject: str, key, issuer_name, issuer_key, *, ca: bool):  # type: ignore[no-untyped-def]
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    usage = x509.KeyUsage(
        digital_signature=not ca, content_commitment=False, key_encipherment=False, data_encipherment=False,
        key_agreement=False, key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False,
    )  # fmt: skip
    builder = builder.add_extension(usage, critical=True)
    return builder.sign(issuer_key or key, hashes.SHA256())


def test_model_signing_certificate_flow_with_a_test_ca(cli, run, reg_path: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A root CA and a signing certificate made in the test: the bundle carries the chain and
    ``model_signing verify certificate`` accepts it against the root, not against another root."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    root_key = ec.generate_private_key(ec.SECP384R1())
    root = _certificate("modelreg test root", root_key, None, None, ca=True)
    signing_key = ec.generate_private_key(ec.SECP256R1())
    leaf = _certificate("release-bot", signing_key, root.subject, root_key, ca=False)
    key_path = tmp_path / "signing.pem"
    key_path.write_bytes(
        signing_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    other_key = ec.generate_private_key(ec.SECP384R1())
    other = _certificate("another root", other_key, None, None, ca=True)
    (tmp_path / "other.pem").write_bytes(other.public_bytes(serialization.Encoding.PEM))
    ok(cli("-R", reg_path, "register", "churn", model(tmp_path)))
    ok(cli("-R", reg_path, "sign", "churn@1", "--key", key_path, "--certificate", tmp_path / "leaf.pem"))
    out = tmp_path / "served"
    assert run("-R", reg_path, "get", "churn@1", "--output", out, "--signature").returncode == 0

    def verify(root_pem: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_cli_tool(), "verify", "certificate", str(out), "--signature", str(out / "model.sig"),
             "--certificate_chain", str(root_pem)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    accepted = verify(tmp_path / "root.pem")
    assert accepted.returncode == 0, accepted.stderr
    assert verify(tmp_path / "other.pem").returncode != 0
    (out / "sub" / "config.json").write_text('{"a": 2}')
    assert verify(tmp_path / "root.pem").returncode != 0
    ok(cli("-R", reg_path, "verify"))
    # A certificate of another key is refused before anything is signed.
    wrong = _certificate("someone", other_key, root.subject, root_key, ca=False)
    (tmp_path / "wrong.pem").write_bytes(wrong.public_bytes(serialization.Encoding.PEM))
    line = refused(
        cli("-R", reg_path, "sign", "churn@1", "--key", key_path, "--certificate", tmp_path / "wrong.pem"), 2
    )
    assert "another key" in line
