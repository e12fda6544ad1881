"""The report's deployment views: the environments on the overview, and per model the deployment
timeline and the observed-metric charts, as files (same registry, same bytes) and in Chromium."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The browser, its page helper and the layout checks of the report's browser tests.
from support.browser import PHONE, assert_fits
from support.report import isolated_env

from modelreg import Registry

pytestmark = pytest.mark.timeout(120)


def _report(registry: Path, out: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "modelreg", "report", "-R", str(registry), "-o", str(out), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def deployed_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("report-deployments")
    with isolated_env(base):
        reg, _ = Registry.init(base / "reg")
        weights = base / "model.bin"
        for n in range(1, 4):
            weights.write_text(f"churn {n}")
            reg.register("churn", [weights], metrics={"accuracy": 0.8 + n / 100}, author="ada")
        weights.write_text("fraud 1")
        reg.register("fraud", [weights], author="ada")
        reg.deploy("churn@1", "prod-eu", reason="first", actor="ada")
        reg.deploy("churn@2", "prod-eu", actor="bob")
        reg.deploy("churn@2", "prod-us", actor="bob")
        reg.deploy("fraud@1", "prod-eu", actor="ada")
        reg.undeploy("churn", "prod-us", actor="bob")
        for day, value in ((5, 0.91), (4, 0.88), (3, 0.86), (2, 0.8), (1, 0.74)):
            reg.observe("churn@2", {"accuracy": value}, env="prod-eu", at=f"{day}d")
        reg.observe("churn@2", {"latency_ms": 31}, env="prod-eu")
        out = base / "site"
        _report(reg.root, out)
        yield reg.root, out


def test_the_overview_lists_each_environment_and_what_it_runs(deployed_site: tuple[Path, Path]) -> None:
    _, site = deployed_site
    index = (site / "index.html").read_text()
    assert 'id="environments"' in index
    section = index.split('id="environments"', 1)[1].split("</table>", 1)[0]
    assert section.count('<th scope="row"') == 2  # prod-eu runs churn and fraud; prod-us runs nothing now
    assert 'href="models/churn/index.html">churn</a>' in section and ">v2<" in section
    model = (site / "models" / "churn" / "index.html").read_text()
    assert "Deployment timeline" in model and model.count("deployed to") == 3 and "taken out of" in model
    assert "Observed in production" in model and "accuracy across time in production" in model
    assert "5 readings from" in model


def test_the_same_registry_gives_the_same_site(deployed_site: tuple[Path, Path], tmp_path: Path) -> None:
    registry, site = deployed_site
    again = tmp_path / "again"
    with isolated_env(tmp_path):
        _report(registry, again)
    for page in ("index.html", "models/churn/index.html", "models/fraud/index.html"):
        assert (again / page).read_bytes() == (site / page).read_bytes(), page


def test_the_deployment_views_in_chromium(deployed_site: tuple[Path, Path], open_page: Any) -> None:
    _, site = deployed_site
    page, watch = open_page((site / "index.html").as_uri())
    watch.assert_local(site.as_uri() + "/")
    watch.assert_quiet()
    rows = page.locator("#environments tbody tr")
    assert rows.count() == 2
    cells = [rows.nth(i).locator("th, td").all_inner_texts() for i in range(2)]
    assert [(c[0], c[1], c[2]) for c in cells] == [("prod-eu", "churn", "v2"), ("prod-eu", "fraud", "v1")]
    page.get_by_role("link", name="churn", exact=True).first.click()
    assert page.url.endswith("models/churn/index.html")
    timeline = page.locator("#deployments li")
    assert timeline.count() == 4
    assert "prod-us" in timeline.first.inner_text() and "taken out of" in timeline.first.inner_text()
    chart = page.get_by_role("img", name="accuracy across time in production")
    assert chart.count() == 1 and chart.locator("circle").count() == 5
    box = chart.bounding_box()
    assert box["width"] > 200 and box["height"] > 80
    assert page.get_by_role("img", name="accuracy across versions").count() == 1  # the training metric beside it
    phone, _ = open_page((site / "models" / "churn" / "index.html").as_uri(), **PHONE)
    assert_fits(phone, 390)
