"""Chromium driven by Playwright for the report's browser tests: Debian's browser, never a download,
and no traffic off this machine (Chromium's own net-log is read at the end of the session to prove it)."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


DESKTOP = {"viewport": {"width": 1440, "height": 900}, "device_scale_factor": 1}


# Non-loopback traffic goes to a proxy on a closed loopback port and fails at once; loopback
# bypasses proxies, so the local http.server still answers.
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic", "--proxy-server=http://127.0.0.1:9"]


def chromium_path() -> str | None:
    # The real binary: Debian's /usr/bin/chromium is a wrapper that adds extension flags.
    for candidate in (os.environ.get("CHROMIUM"), "/usr/lib/chromium/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def non_loopback_traffic(netlog: Path) -> list[str]:
    """Addresses outside loopback the browser opened a TCP connection to, or sent UDP to.

    A UDP connect() alone sends nothing (Chromium does one to learn whether IPv6 is routable);
    a socket counts once it sends, and its send events carry no address, its connect does.
    """
    log = json.loads(netlog.read_text())
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    tcp: list[str] = []
    udp_peer: dict[int, str] = {}
    udp_sent: set[int] = set()
    for event in log["events"]:
        name, source = names[event["type"]], event["source"]["id"]
        address = (event.get("params") or {}).get("address")
        if name == "TCP_CONNECT_ATTEMPT" and address:
            tcp.append(address)
        elif name == "UDP_CONNECT" and address:
            udp_peer[source] = address
        elif name == "UDP_BYTES_SENT":
            udp_sent.add(source)
    found = [f"tcp {a}" for a in tcp] + [f"udp {udp_peer[s]}" for s in sorted(udp_sent) if s in udp_peer]
    host = lambda f: f.split(" ", 1)[1].rsplit(":", 1)[0].strip("[]")  # noqa: E731
    return [f for f in found if not ipaddress.ip_address(host(f)).is_loopback]


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    exe = chromium_path()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: apt-get install -y --no-install-recommends chromium")
        pytest.skip("chromium is not installed (apt-get install -y --no-install-recommends chromium)")
    netlog = tmp_path_factory.mktemp("chromium") / "netlog.json"
    with sync_api.sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=exe, args=[*CHROMIUM_ARGS, f"--log-net-log={netlog}"])
        yield launched
        launched.close()  # the net-log is whole JSON only after a clean close
    leaks = non_loopback_traffic(netlog)
    assert not leaks, f"the browser reached outside loopback: {leaks}"


@dataclass
class Watch:
    """Everything one browser context asked for or complained about."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_status: list[str] = field(default_factory=list)
    websockets: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def assert_local(self, prefix: str) -> None:
        outside = [u for u in self.requests + self.websockets if not u.startswith(prefix)]
        assert not outside, f"requests outside {prefix}: {outside}"
        assert not self.failed, f"failed requests: {self.failed}"
        assert not self.bad_status, f"HTTP errors: {self.bad_status}"

    def assert_quiet(self) -> None:
        assert not self.errors, f"page errors: {self.errors}"
        assert not self.console, f"console errors or warnings: {self.console}"


OpenPage = Callable[..., tuple[Any, Watch]]


@pytest.fixture
def open_page(browser: Any) -> Iterator[OpenPage]:
    """open_page(url, **context_options) -> (page, watch); a fresh context each, closed afterwards."""
    contexts = []

    def _open(url: str, **options: Any) -> tuple[Any, Watch]:
        context = browser.new_context(**options)
        contexts.append(context)
        watch = Watch()
        context.on("request", lambda r: watch.requests.append(r.url))
        context.on("requestfailed", lambda r: watch.failed.append(f"{r.url} {r.failure}"))
        context.on("response", lambda r: r.status >= 400 and watch.bad_status.append(f"{r.status} {r.url}"))
        page = context.new_page()
        page.on("websocket", lambda ws: watch.websockets.append(ws.url))
        page.on("pageerror", lambda exc: watch.errors.append(str(exc)))
        page.on("console", lambda m: m.type in ("error", "warning") and watch.console.append(f"{m.type}: {m.text}"))
        page.goto(url, wait_until="load")
        if options.get("java_script_enabled", True):
            # Let timers queued during load run. Never with JS off: the promise would never settle.
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)))")
        return page, watch

    yield _open
    for context in contexts:
        context.close()


def assert_fits(page: Any, width: int) -> None:
    """No sideways scrolling at ``width``. With is_mobile, window.innerWidth grows with the content,
    so the emulated width and documentElement.clientWidth (which stays put) are the reference."""
    scroll_width, client_width, inner_width = page.evaluate(
        "() => [document.scrollingElement.scrollWidth, document.documentElement.clientWidth, window.innerWidth]"
    )
    assert client_width == width, f"layout width {client_width} != {width} (no width=device-width viewport?)"
    assert scroll_width <= client_width and inner_width == width, (
        f"horizontal overflow at {width}px: scrollWidth {scroll_width}, innerWidth {inner_width}"
    )
