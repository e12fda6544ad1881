"""The git engine: claims and pointers as refs on the registry repository's remote.

A claim is a ref ``refs/modelreg/claims/<model>/<n>`` naming a blob that holds the claim record:
``git push`` creates it, and the remote refuses to move a ref that already names another object
(only a forced push would; modelreg never forces). Pushing the very same blob again (a retry
after a lost answer) succeeds as "up to date". The pointers object is the ref
``refs/modelreg/pointers/<model>``, swapped with ``--force-with-lease=<ref>:<old blob>``, which
the remote applies only if the ref still names the blob read.

git runs with every program the repository's config could name switched off (hooks, ssh
commands, credential helpers, remote helpers and ``ext::`` transports, upload/receive-pack
programs): the repository, and so its config, may come from anyone.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from modelreg.errors import IntegrityError, RemoteError
from modelreg.ops.teams.base import CLAIM_LIMIT, POINTERS_LIMIT, Engine, unreachable
from modelreg.records.names import validate_name
from modelreg.stores.remotes.backend import Tagged

_TIMEOUT = 60
_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
_ALLOWED_PROTOCOLS = ("file", "ssh", "https", "http", "git")
# A remote's uploadpack/receivepack settings name programs (run here for a local remote), and the
# first value configured wins over a ``-c``: the options on the command line win over both.
UPLOAD_PACK = "--upload-pack=git-upload-pack"
RECEIVE_PACK = "--receive-pack=git-receive-pack"


class GitEngine(Engine):
    def __init__(self, root: Path, remote: str) -> None:
        self.root = root
        self.remote = remote
        self.url = f"git:{root}#{remote}"
        self.name = f"the git claim engine (remote {remote!r} of {root})"
        self._safe: list[str] | None = None
        self._fetched = False  # reads answer from the refs fetch_all brought (verify, sync)

    # -- running git ---------------------------------------------------------------------------

    def _options(self) -> list[str]:
        if self._safe is None:
            from modelreg.ops.capture.lineage import _neutralised

            safe = _neutralised(self.root)
            if safe is None:
                raise self._failed(f"cannot read the git configuration of {self.root}")
            safe = [*safe, "-c", "core.gitProxy=", "-c", "protocol.allow=never"]
            for protocol in _ALLOWED_PROTOCOLS:
                safe += ["-c", f"protocol.{protocol}.allow=always"]
            self._safe = safe
        return self._safe

    def _git(self, *args: str, data: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        try:
            done = subprocess.run(
                ["git", *self._options(), *args],
                cwd=self.root,
                input=data,
                capture_output=True,
                timeout=_TIMEOUT,
                check=False,
                env=_git_env(),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise self._failed(f"git could not run: {exc}", write=args[0] == "push") from exc
        if check and done.returncode != 0:
            raise self._failed(_first_line(done.stderr) or f"git {args[0]} failed")
        return done

    def _failed(self, why: str, *, write: bool = False) -> RemoteError:
        # A push that failed without a verdict (a timeout, a dropped connection) may have landed.
        return unreachable(self, RemoteError(why, code="claims_unavailable"), write=write)

    def _blob(self, data: bytes) -> str:
        sha = self._git("hash-object", "-w", "--stdin", data=data).stdout.decode().strip()
        if not _SHA.fullmatch(sha):
            raise RemoteError(f"git hash-object gave {sha!r}", code="claims_unavailable")
        return sha

    def _remote_refs(self, pattern: str) -> dict[str, str]:
        if self._fetched:  # what fetch_all brought: one fetch answers every later read
            local = self._git("for-each-ref", "--format=%(objectname)%09%(refname)", "--", pattern.rstrip("*"))
            return _parse_refs(local.stdout.decode("utf-8", "replace"))
        out = self._git("ls-remote", UPLOAD_PACK, "--refs", "--", self.remote, pattern)
        return _parse_refs(out.stdout.decode("utf-8", "replace"))

    def _read_blob(self, ref: str, sha: str, limit: int) -> bytes:
        """The blob ``sha`` that the remote's ``ref`` names, fetched into the local ref of that name."""
        if not self._fetched:
            self._git("fetch", UPLOAD_PACK, "--no-tags", "-q", "--", self.remote, f"+{ref}:{ref}")
        kind = self._git("cat-file", "-t", sha).stdout.decode().strip()
        size = self._git("cat-file", "-s", sha).stdout.decode().strip()
        if kind != "blob" or not size.isdigit() or int(size) > limit:
            raise IntegrityError(f"{ref} on the remote {self.remote!r} is not a claim record", code="corrupt_claim")
        return self._git("cat-file", "blob", sha).stdout

    # -- the engine ----------------------------------------------------------------------------

    def create_claim(self, model: str, number: int, data: bytes) -> bool:
        ref = f"refs/modelreg/claims/{validate_name(model)}/{number}"
        sha = self._blob(data)
        self._fetched = False  # after a write, reads ask the remote again
        done = self._git("push", RECEIVE_PACK, "--porcelain", "-q", "--", self.remote, f"{sha}:{ref}", check=False)
        if done.returncode == 0:
            self._git("update-ref", ref, sha)
            return True
        if b"[rejected]" in done.stdout or b"[remote rejected]" in done.stdout or b"already exists" in done.stderr:
            return False
        raise self._failed(_first_line(done.stderr) or "git push failed", write=True)

    def read_claim(self, model: str, number: int) -> bytes | None:
        ref = f"refs/modelreg/claims/{validate_name(model)}/{number}"
        sha = self._remote_refs(ref).get(ref)
        return None if sha is None else self._read_blob(ref, sha, CLAIM_LIMIT)

    def claimed(self, model: str) -> list[int]:
        prefix = f"refs/modelreg/claims/{validate_name(model)}/"
        numbers = (ref[len(prefix) :] for ref in self._remote_refs(prefix + "*") if ref.startswith(prefix))
        return sorted(int(n) for n in numbers if n.isascii() and n.isdigit() and not n.startswith("0") and len(n) <= 9)

    def read_pointers(self, model: str) -> Tagged | None:
        ref = f"refs/modelreg/pointers/{validate_name(model)}"
        sha = self._remote_refs(ref).get(ref)
        return None if sha is None else Tagged(self._read_blob(ref, sha, POINTERS_LIMIT), sha)

    def create_pointers(self, model: str, data: bytes) -> bool:
        ref = f"refs/modelreg/pointers/{validate_name(model)}"
        return self._push_lease(ref, self._blob(data), "")

    def swap_pointers(self, model: str, data: bytes, tag: str) -> bool:
        if not _SHA.fullmatch(tag):
            return False
        ref = f"refs/modelreg/pointers/{validate_name(model)}"
        return self._push_lease(ref, self._blob(data), tag)

    def _push_lease(self, ref: str, sha: str, expected: str) -> bool:
        self._fetched = False  # after a write, reads ask the remote again
        # An empty lease means "the ref must not exist yet".
        lease = f"--force-with-lease={ref}:{expected}"
        done = self._git(
            "push", RECEIVE_PACK, "--porcelain", "-q", lease, "--", self.remote, f"{sha}:{ref}", check=False
        )
        if done.returncode == 0:
            return True
        if b"[rejected]" in done.stdout or b"[remote rejected]" in done.stdout or b"stale info" in done.stderr:
            return False
        raise self._failed(_first_line(done.stderr) or "git push failed", write=True)

    def fetch_all(self) -> None:
        """Bring every claim and pointers ref of the remote here (``sync``, ``verify``); later reads
        of this engine answer from them. Only for reading: a change asks the remote itself."""
        self._git(
            "fetch", UPLOAD_PACK, "--no-tags", "--prune", "-q", "--", self.remote, "+refs/modelreg/*:refs/modelreg/*"
        )
        self._fetched = True


def _git_env() -> dict[str, str]:
    import os

    # The user's own environment is theirs to set (GIT_SSH_COMMAND included); only a password
    # prompt on a terminal is switched off, so that a command never hangs waiting for one.
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0"}


def _parse_refs(out: str) -> dict[str, str]:
    refs = {}
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if _SHA.fullmatch(sha):
            refs[ref] = sha
    return refs


def _first_line(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip()[:300]
    return ""
