"""The report in a real browser: Debian's Chromium, headless, driven by Playwright.

Playwright's own browser download is never used (it cannot be fetched here): the tests launch the
distribution's binary. Without it they skip, except under CI, where .ci/run installs it and a
missing browser must fail rather than hide as skips. Every non-loopback connection of the
browser goes to a proxy on a closed loopback port, so nothing can leave the machine, and
Chromium's own net-log is read at the end of the session to prove it did not.

Screenshots land in $MODELREG_REPORT_SHOTS (else a temporary directory) for a person to look at.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support.browser import DESKTOP, PHONE, OpenPage, assert_fits
from support.report import LONG_TAG, ODD_NAME, PARAM_MARKUP, SCRIPT_DESCRIPTION, TAG_MARKUP, build_demo, isolated_env

from modelreg import Registry

pytestmark = pytest.mark.timeout(60)  # a hung page fails its test instead of stalling the run


@dataclass
class Site:
    root: Path  # the site
    registry: Path
    models: list[dict[str, Any]]
    versions: dict[str, list[dict[str, Any]]]
    pages: list[str]


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    base = tmp_path_factory.mktemp("report-browser")
    with isolated_env(base):
        demo = build_demo(base)
        reg = Registry.open(demo.root)
        weights = base / "long.bin"
        for n in range(1, 106):  # two pages of versions
            weights.write_bytes(f"long {n}".encode())
            reg.register("long", [weights], metrics={"acc": round(0.5 + (n % 17) / 100, 4)}, author="ada")
        reg.promote("long@3", "production", actor="ada")
        out = base / "site"
        proc = subprocess.run(
            [sys.executable, "-m", "modelreg", "report", "-R", str(demo.root), "-o", str(out), "--json"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        models = [m.to_json() for m in reg.list_models()]
        versions = {m["name"]: [v.to_json() for v in reg.list_versions(m["name"])] for m in models}
    pages = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.html"))
    assert "models/long/versions-2.html" in pages
    return Site(out, demo.root, models, versions, pages)


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def http_base(site: Site) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(site.root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


HIDDEN_OVERFLOW_JS = """() => [...document.querySelectorAll('body *')].filter(e => {
    const ox = getComputedStyle(e).overflowX;
    return ox !== 'visible' && ox !== 'clip' && e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 1;
}).map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className}: ${e.scrollWidth} > ${e.clientWidth}`)"""


def assert_no_hidden_overflow(page: Any) -> None:
    """A box that scrolls sideways passes assert_fits but hides columns on a phone."""
    boxes = page.evaluate(HIDDEN_OVERFLOW_JS)
    assert not boxes, f"inner boxes scroll sideways: {boxes}"


def url_of(site: Site, page: str) -> str:
    return (site.root / page).as_uri()


# -- loading -------------------------------------------------------------------------------------


def test_every_page_is_self_contained_from_disk(site: Site, open_page: OpenPage) -> None:
    prefix = site.root.as_uri() + "/"
    for name in site.pages:
        page, watch = open_page(url_of(site, name))
        watch.assert_local(prefix)
        watch.assert_quiet()
        assert page.locator("h1").count() == 1, name
        assert {u.rsplit("/", 1)[-1] for u in watch.requests} >= {"style.css", "table.js", "icon.svg"}, name


@pytest.mark.parametrize("name", ["index.html", "models/churn/index.html", "models/long/versions-2.html"])
def test_pages_over_loopback_http(site: Site, open_page: OpenPage, http_base: str, name: str) -> None:
    page, watch = open_page(http_base + name)
    watch.assert_local(http_base)
    watch.assert_quiet()  # includes the favicon: a missing one is a 404 on the console
    assert watch.requests[0] == http_base + name
    assert any(u.endswith("/assets/icon.svg") for u in watch.requests)
    assert page.evaluate("() => getComputedStyle(document.body).fontFamily").startswith("system-ui")


# -- what is on the pages ---------------------------------------------------------------------------


def test_every_model_stage_holder_and_metric_is_on_the_page(site: Site, open_page: OpenPage) -> None:
    page, _ = open_page(url_of(site, "index.html"))
    rows = page.locator("#models tbody tr")
    assert rows.count() == len(site.models)
    for model in site.models:
        row = page.locator("#models tbody tr", has=page.get_by_role("link", name=model["name"], exact=True))
        assert row.count() == 1, model["name"]
        assert row.locator("td[data-label=Latest]").inner_text().startswith(f"v{model['latest_version']}")
        for stage, held in model["stages"].items():
            cell = row.locator(f'td[data-label="{stage}"]').inner_text()
            numbers = [held] if isinstance(held, int) else held or []
            if not numbers:
                assert cell == "—"
            for n in sorted(numbers, reverse=True)[:5]:
                assert f"v{n}" in cell.split(), (model["name"], stage, cell)
        for alias, n in model["aliases"].items():
            assert f"{alias} → v{n}" in row.locator("td[data-label=Aliases]").inner_text()
    for model in site.models:
        name = model["name"]
        seen: dict[int, dict[str, Any]] = {}
        for path in (p for p in site.pages if p.startswith(f"models/{name}/")):
            page, _ = open_page(url_of(site, path))
            seen.update({int(k): v for k, v in page.evaluate(ROWS_JS).items()})
            if path.endswith("/index.html"):
                holders = page.locator("#stages").inner_text()
                for n in (
                    n for held in model["stages"].values() for n in ([held] if isinstance(held, int) else held or [])
                ):
                    assert f"v{n}" in holders
        assert sorted(seen) == sorted(v["version"] for v in site.versions[name])
        for version in site.versions[name]:
            shown = seen[version["version"]]
            assert shown["Stage"] == version["stage"]
            assert shown["digest"] == version["digest"]
            for key, value in version["metrics"].items():
                assert shown[key] == repr(value), (name, version["version"], key)


# Every version row of a page as {number: {column label: its text, "digest": the full digest}}.
ROWS_JS = """() => Object.fromEntries([...document.querySelectorAll('#versions tbody tr[id]')].map(tr => [
    tr.id.slice(1),
    Object.assign(
        Object.fromEntries([...tr.querySelectorAll('td[data-label]')]
            .map(td => [td.dataset.label, td.innerText.trim()])),
        {digest: tr.querySelector('td[data-label=Digest] code').title})]))"""


def test_readable_without_javascript(site: Site, open_page: OpenPage) -> None:
    for name in ("index.html", "models/churn/index.html", "models/long/versions-2.html"):
        page, watch = open_page(url_of(site, name), java_script_enabled=False)
        assert page.locator("th button").count() == 0  # table.js did not run ...
        assert page.locator(".filter input").count() == 0
        assert page.locator("table tbody tr").count() >= 3  # ... and everything is there to read
        watch.assert_local(site.root.as_uri() + "/")
    page, _ = open_page(url_of(site, "models/churn/index.html"), java_script_enabled=False)
    assert page.locator("#v3 td[data-label=auc]").inner_text() == "0.9"
    assert page.locator("svg.chart").count() == 3


def test_sorting_and_filtering_with_javascript(site: Site, open_page: OpenPage) -> None:
    page, watch = open_page(url_of(site, "index.html"))
    names = "els => els.map(e => e.textContent.trim())"
    first = page.locator("#models tbody th a")
    assert first.evaluate_all(names) == sorted(m["name"] for m in site.models)
    page.get_by_role("button", name="Latest", exact=True).click()
    assert page.locator("#models thead th").nth(1).get_attribute("aria-sort") == "ascending"
    by_latest = sorted(site.models, key=lambda m: (m["latest_version"], m["name"]))
    assert first.evaluate_all(names) == [m["name"] for m in by_latest]
    page.get_by_role("button", name="Latest", exact=True).click()
    assert page.locator("#models thead th").nth(1).get_attribute("aria-sort") == "descending"
    assert first.evaluate_all(names)[0] == "long"
    page.get_by_label("Filter models").fill("frau")
    assert page.locator("#models tbody tr:not([hidden])").count() == 1
    assert page.locator(".filter output").inner_text() == f"1 of {len(site.models)} shown"
    watch.assert_quiet()


def test_markup_from_the_registry_stays_text(site: Site, open_page: OpenPage) -> None:
    page, watch = open_page(url_of(site, f"models/{ODD_NAME}/index.html"))
    watch.assert_quiet()
    assert page.evaluate("() => document.scripts.length") == 1
    assert page.locator("#injected, img, b, em").count() == 0
    assert page.locator("h1").inner_text() == ODD_NAME
    assert page.locator("main > p.prose").inner_text() == SCRIPT_DESCRIPTION
    lineage = page.locator("#lineage tbody tr").first
    tags = lineage.locator("td[data-label=Tags]").inner_text()
    assert TAG_MARKUP in tags and LONG_TAG in tags.replace("\n", "")
    assert PARAM_MARKUP in page.locator("#v1 td[data-label=Parameters]").inner_text()
    assert lineage.locator("td[data-label='CI run'] a").count() == 0  # a javascript: URL is no link
    page, _ = open_page(url_of(site, "index.html"), **PHONE)
    assert_fits(page, 390)  # the long name and values wrap instead of widening the page
    assert page.get_by_role("link", name=ODD_NAME, exact=True).count() >= 1


def test_charts_are_inline_svg_with_a_text_alternative(site: Site, open_page: OpenPage) -> None:
    page, _ = open_page(url_of(site, "models/churn/index.html"))
    charts = page.locator("svg.chart")
    assert charts.count() == 3
    for i in range(3):
        chart = charts.nth(i)
        assert chart.get_attribute("role") == "img"
        ids = chart.get_attribute("aria-labelledby").split()
        label = " ".join(page.locator(f"#{x}").text_content() for x in ids)
        assert "across versions" in label and "4 versions from v1 to v4" in label
        assert chart.locator("circle").count() == 4
        box = chart.bounding_box()
        assert box["width"] > 200 and box["height"] > 80
    assert page.get_by_role("img", name="auc across versions").count() == 1


# -- layout ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_no_page_scrolls_sideways(site: Site, open_page: OpenPage, device: str) -> None:
    options = PHONE if device == "phone" else DESKTOP
    for name in site.pages:
        page, _ = open_page(url_of(site, name), **options)
        assert_fits(page, options["viewport"]["width"])
        assert_no_hidden_overflow(page)


def test_dark_mode_changes_the_colours(site: Site, open_page: OpenPage) -> None:
    seen = {}
    for scheme in ("light", "dark"):
        page, _ = open_page(url_of(site, "models/churn/index.html"), color_scheme=scheme)
        assert page.evaluate("() => matchMedia('(prefers-color-scheme: dark)').matches") == (scheme == "dark")
        seen[scheme] = page.evaluate(
            """() => [getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color,
                      getComputedStyle(document.querySelector('svg.chart .series')).stroke]"""
        )
    assert seen["light"][0] == "rgb(255, 255, 255)" and seen["dark"][0] == "rgb(17, 19, 24)"
    assert all(a != b for a, b in zip(seen["light"], seen["dark"], strict=True))


# WCAG contrast of every piece of text against the colour behind it (the first opaque
# background up the tree); SVG text is checked by its fill. Returns the failures.
CONTRAST_JS = """() => {
    const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map(v => v / 255)
        .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
    const behind = el => {
        for (let e = el; e; e = e.parentElement) {
            const bg = rgb(getComputedStyle(e).backgroundColor);
            if (bg.length === 3 || (bg.length === 4 && bg[3] === 1)) return bg.slice(0, 3);
        }
        return [255, 255, 255];
    };
    const bad = [];
    for (const el of document.querySelectorAll('body *')) {
        const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
        if (!own || !el.getClientRects().length) continue;
        const style = getComputedStyle(el);
        const svg = el instanceof SVGElement;
        const fg = rgb(svg ? style.fill : style.color).slice(0, 3);
        const size = parseFloat(style.fontSize), bold = Number(style.fontWeight) >= 700;
        const needed = svg || size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
        const r = ratio(fg, behind(svg ? el.closest('figure') || el : el));
        const name = `${el.tagName.toLowerCase()}.${el.className.baseVal ?? el.className}`;
        if (r < needed) bad.push(`${name}: ${r.toFixed(2)}`);
    }
    return [...new Set(bad)];
}"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_has_enough_contrast(site: Site, open_page: OpenPage, scheme: str) -> None:
    for name in ("index.html", "models/churn/index.html", f"models/{ODD_NAME}/index.html"):
        page, _ = open_page(url_of(site, name), color_scheme=scheme)
        assert page.evaluate(CONTRAST_JS) == [], (name, scheme)


def shots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("MODELREG_REPORT_SHOTS")
    path = Path(chosen) if chosen else tmp_path_factory.mktemp("shots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("name", ["index.html", "models/churn/index.html", f"models/{ODD_NAME}/index.html"])
def test_screenshots(site: Site, open_page: OpenPage, tmp_path_factory: pytest.TempPathFactory, name: str) -> None:
    out = shots_dir(tmp_path_factory)
    stem = name.removesuffix(".html").replace("/", "_").replace(ODD_NAME, "odd")
    for device, options in (("phone", PHONE), ("desktop", DESKTOP)):
        for scheme in ("light", "dark"):
            page, watch = open_page(url_of(site, name), color_scheme=scheme, **options)
            png = page.screenshot(path=out / f"{stem}-{device}-{scheme}.png", full_page=True)
            assert png[:8] == b"\x89PNG\r\n\x1a\n"
            page.screenshot(path=out / f"{stem}-{device}-{scheme}-screen.png")  # what the first screen shows
            watch.assert_quiet()


# -- the checks can fail ------------------------------------------------------------------------------

BAD_PAGES = {
    "external image": ('<img src="https://img.example.net/x.png" alt="">', "local"),
    "missing asset": ('<link rel="stylesheet" href="nope.css">', "local"),
    "fetch": ('<script>fetch("http://api.example.net/").catch(() => {})</script>', "local"),
    "console error": ('<script>console.error("boom")</script>', "quiet"),
    "late exception": ('<script>setTimeout(() => { throw new Error("late") }, 0)</script>', "quiet"),
    "wide content": ('<div style="width:1200px">wide</div>', "fits"),
    "faint text": ('<p style="color:#aaa">faint</p>', "contrast"),
    "faint chart label": ('<svg><text x="5" y="15" fill="#ddd">faint</text></svg>', "contrast"),
    "wide table in a scroll box": (
        '<div style="overflow-x:auto"><table><tr>' + "<td>column</td>" * 40 + "</tr></table></div>",
        "hidden overflow",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_PAGES))
def test_the_checks_catch_a_bad_page(open_page: OpenPage, tmp_path: Path, case: str) -> None:
    snippet, check = BAD_PAGES[case]
    (tmp_path / "index.html").write_text(
        '<!doctype html><html lang="en"><head><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>t</title></head><body>{snippet}</body></html>"
    )
    page, watch = open_page((tmp_path / "index.html").as_uri(), **PHONE)
    page.wait_for_timeout(50)  # a failing fetch settles after load
    with pytest.raises(AssertionError):
        if check == "local":
            watch.assert_local(tmp_path.as_uri() + "/")
        elif check == "quiet":
            watch.assert_quiet()
        elif check == "fits":
            assert_fits(page, 390)
        elif check == "contrast":
            assert page.evaluate(CONTRAST_JS) == []
        else:
            assert_fits(page, 390)
            assert_no_hidden_overflow(page)
