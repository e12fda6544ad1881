"""Links the report may show: a commit on the web page of the registry's git remote, and CI runs.

Only https (or http) addresses become links, and credentials in a remote URL never reach the page:
the site is published, and a remote such as ``https://user:token@host/repo`` must not leak.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

_SCP_LIKE = re.compile(r"^(?:[\w.~-]+@)?(?P<host>[\w.-]+):(?P<path>(?!/)[\w.~/-]+)$")
_HEX = re.compile(r"[0-9a-f]{7,64}")
_PATH_PART = re.compile(r"[\w.~-]+")


def web_base(remote: str) -> str | None:
    """``https://HOST/OWNER/REPO`` for a GitHub, GitLab or Bitbucket remote (https, ssh or scp-like)."""
    remote = remote.strip()
    scp = _SCP_LIKE.match(remote)
    if scp and "://" not in remote:
        host, path = scp.group("host"), scp.group("path")
    else:
        try:
            parts = urlsplit(remote)
            host = parts.hostname or ""
        except ValueError:
            return None
        if parts.scheme not in ("https", "http", "ssh", "git", "git+ssh", "ssh+git"):
            return None
        path = parts.path.lstrip("/")
    path = path.removesuffix("/").removesuffix(".git")
    segments = path.split("/")
    if not host or len(segments) < 2 or not all(_PATH_PART.fullmatch(s) and s not in (".", "..") for s in segments):
        return None
    if _forge(host) is None:
        return None
    return f"https://{host.lower()}/{path}"


def _forge(host: str) -> str | None:
    host = host.lower()
    for name in ("github", "gitlab", "bitbucket"):
        if name in host.split("."):
            return name
    return None


def commit_url(base: str | None, commit: object) -> str | None:
    """The web page of ``commit`` under ``base`` (from web_base), if both are usable."""
    if base is None or not isinstance(commit, str) or not _HEX.fullmatch(commit):
        return None
    forge = _forge(urlsplit(base).hostname or "")
    if forge == "gitlab":
        return f"{base}/-/commit/{commit}"
    if forge == "bitbucket":
        return f"{base}/commits/{commit}"
    return f"{base}/commit/{commit}"


def safe_url(value: object) -> str | None:
    """``value`` if it is an absolute http(s) address without credentials (a CI run's URL), else None."""
    if not isinstance(value, str) or len(value) > 2000 or any(c.isspace() for c in value):
        return None
    try:
        parts = urlsplit(value)
        ok = parts.scheme in ("https", "http") and bool(parts.hostname) and parts.username is None
    except ValueError:
        return None
    return value if ok else None


def registry_remote(root: Path) -> str | None:
    """The web base of the git remote of the repository holding ``root`` (``origin`` first)."""
    safe = ["-c", "core.fsmonitor=false", "-c", "core.pager=cat", "-c", "core.hooksPath=/dev/null"]
    try:
        out = subprocess.run(
            ["git", *safe, "config", "--get-regexp", r"^remote\..*\.url$"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    remotes: dict[str, str] = {}
    for line in out.stdout.splitlines():
        key, _, url = line.partition(" ")
        remotes.setdefault(key.removeprefix("remote.").removesuffix(".url"), url)
    for name in sorted(remotes, key=lambda n: (n != "origin", n)):
        base = web_base(remotes[name])
        if base is not None:
            return base
    return None
