"""SSH signatures through the real ``ssh-keygen -Y`` (OpenSSH 8.9 or later): sign a message
with a key the user holds, and verify one against an ALLOWED SIGNERS file at a given time.

Signatures are armored text (``-----BEGIN SSH SIGNATURE-----``). ssh-keygen reads the message on
standard input; the signature it checks is written to a private temporary file. ssh-keygen is
never given anything from the registry but the allowed-signers path, an identity and a
namespace, each passed as one argument (no shell).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from modelreg.errors import ConflictError, UsageError

TIMEOUT = 60.0
MAX_SIGNATURE = 64 << 10
_ARMOR = "-----BEGIN SSH SIGNATURE-----"


def _ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if found is None:
        raise UsageError("signing needs OpenSSH's ssh-keygen on PATH", code="missing_tool")
    return found


def sign(key: Path, namespace: str, message: bytes) -> str:
    """The armored SSH signature of ``message`` by the private key at ``key`` (or the public key
    of one held in ssh-agent)."""
    if not key.is_file():
        raise UsageError(f"--sign {key}: no such key file", code="invalid_key")
    done = subprocess.run(
        [_ssh_keygen(), "-q", "-Y", "sign", "-f", str(key), "-n", namespace],
        input=message,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    text = done.stdout.decode("ascii", "replace")
    if done.returncode != 0 or _ARMOR not in text:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(
            f"ssh-keygen could not sign with {key}: {why[-1] if why else 'no signature'}", code="invalid_key"
        )
    return text


def _ssh_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def verify(
    signature: str, namespace: str, message: bytes, *, allowed: Path | None, identity: str | None, when: datetime
) -> tuple[bool, str]:
    """Whether ``signature`` over ``message`` holds for ``identity`` in ``allowed`` at ``when``
    (``allowed`` None: only that it is a good signature by the key it carries), and ssh-keygen's
    last word."""
    if len(signature) > MAX_SIGNATURE or _ARMOR not in signature:
        return False, "not an SSH signature"
    with tempfile.TemporaryDirectory(prefix="modelreg-sig-") as tmp:
        path = os.path.join(tmp, "message.sig")
        with open(path, "w", encoding="ascii", errors="replace") as fh:
            fh.write(signature)
        if allowed is None or identity is None:
            args = ["-Y", "check-novalidate", "-n", namespace, "-s", path]
        else:
            args = ["-Y", "verify", "-f", str(allowed), "-I", identity, "-n", namespace, "-s", path]
            args += ["-O", f"verify-time={_ssh_time(when)}"]
        try:
            done = subprocess.run(
                [_ssh_keygen(), *args], input=message, capture_output=True, timeout=TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise ConflictError("ssh-keygen did not answer in time", code="timeout") from None
    said = (done.stderr + done.stdout).decode("utf-8", "replace").strip().splitlines()
    return done.returncode == 0, said[-1] if said else ""
