"""The README and docs/ point only at files and sections that exist, and the README's set-up lines
are the commands CI runs."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
# Guides written alongside this one and merged separately: links to them may wait for them.
ARRIVING = {ROOT / "docs" / "guide" / name for name in ("deployments.md", "mlflow.md", "proof.md")}
# Pages whose README link comes with the README's next revision (the README is edited on its own).
README_LINK_PENDING = {ROOT / "docs" / "guide" / "teams.md", ROOT / "docs" / "reference" / "claims.md"}
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
# A path of the repository written as code in prose: `tests/test_x.py`, `examples/governance.sh`.
REPO_PATH = re.compile(r"`((?:tests|docs|examples|benchmarks|completions|modelreg)/[\w./-]*[\w/])`")


def _without_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lowercase, punctuation dropped, spaces as '-'."""
    found: set[str] = set()
    for title in re.findall(r"^#{1,6} (.+)$", _without_code_blocks(page.read_text()), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def _links(page: Path) -> list[str]:
    return LINK.findall(_without_code_blocks(page.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_points_at_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for target in _links(page):
        if re.match(r"[a-z]+:", target):
            continue  # a URL: not this repository's business
        path_part, _, anchor = target.partition("#")
        dest = (page.parent / path_part).resolve() if path_part else page
        if dest in ARRIVING and not dest.exists():
            continue
        missing_anchor = anchor and dest.suffix == ".md" and dest.exists() and anchor not in _anchors(dest)
        if not dest.exists() or missing_anchor:
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_named_in_prose_exists(page: Path) -> None:
    missing = [p for p in REPO_PATH.findall(page.read_text()) if not (ROOT / p).exists()]
    assert missing == []


def test_the_checker_sees_a_broken_link_and_a_broken_anchor(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# A heading: with punctuation\n")
    page.write_text("[a](there.md#a-heading-with-punctuation) [b](gone.md) [c](there.md#nope)\n")
    links = _links(page)
    assert links == ["there.md#a-heading-with-punctuation", "gone.md", "there.md#nope"]
    assert _anchors(tmp_path / "there.md") == {"a-heading-with-punctuation"}


def test_the_readme_links_every_guide_and_reference_page() -> None:
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in _links(ROOT / "README.md")}
    pages = {*(ROOT / "docs" / "guide").glob("*.md"), *(ROOT / "docs" / "reference").glob("*.md"), *ARRIVING}
    assert sorted(str(p.relative_to(ROOT)) for p in pages - linked - README_LINK_PENDING) == []


def _readme_set_up_lines() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    assert block is not None
    return block.group(1).strip().splitlines()


def test_the_readme_test_command_is_the_one_ci_runs() -> None:
    first, second = _readme_set_up_lines()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    # The same extras installed and the same pytest invocation, with the venv's interpreter.
    installs = [line for line in ci if "pip install" in line and "-e" in line]
    assert installs and shlex.split(installs[-1])[-3:] == shlex.split(second.split("&&")[-2])[-3:]
    pytest_line = [line for line in ci if "-m pytest" in line]
    assert pytest_line and second.split("&&")[-1].strip() == ".venv/bin/" + pytest_line[-1]
    # The first line installs the tool without the test tools and runs the round trip.
    assert "[test]" not in first and first.endswith("bash examples/roundtrip.sh")
