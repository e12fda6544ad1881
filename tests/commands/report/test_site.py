"""``report``: what the site holds, that it is the same bytes every time, and that writing it is
all or nothing and never touches files it did not write. (The pages in a real browser:
test_report_browser.py.)"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.report import (
    GITHUB_REMOTE,
    HOSTILE_CI_URL,
    LONG_TAG,
    ODD_NAME,
    PARAM_MARKUP,
    SCRIPT_DESCRIPTION,
    TAG_MARKUP,
    Demo,
    build_demo,
    git,
    isolated_env,
)

from modelreg import Registry
from modelreg.ops.report.charts import MAX_POINTS, metric_chart, thin
from modelreg.ops.report.links import commit_url, safe_url, web_base

MARKER = "modelreg-report.json"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    base = tmp_path_factory.mktemp("report-demo")
    with isolated_env(base):
        yield build_demo(base)


def files_of(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in sorted(site.rglob("*")) if p.is_file()}


def report(run, root: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run("report", "-R", root, "--output", out, "--json", *extra)


# -- the command ---------------------------------------------------------------------------------


def test_report_json_and_the_default_directory(run, demo: Demo, tmp_path: Path) -> None:
    proc = run("report", "-R", demo.root, "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    site = tmp_path / "modelreg-report"
    assert json.loads(proc.stdout) == {"path": str(site), "models": 3, "versions": 7}
    names = set(files_of(site))
    assert {"index.html", MARKER, "assets/style.css", "assets/table.js", "assets/icon.svg"} <= names
    assert {f"models/{m}/index.html" for m in demo.models} <= names
    listed = json.loads((site / MARKER).read_text())["files"]
    assert sorted(listed) == sorted(names - {MARKER})


def test_report_human_line(cli, demo: Demo, tmp_path: Path) -> None:
    result = cli("report", "-R", demo.root, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"Wrote {tmp_path / 'out' / 'index.html'}: 3 models, 7 versions; verify --quick passed"
    )


def test_every_model_stage_holder_alias_and_metric_is_in_the_pages(run, demo: Demo, tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert report(run, demo.root, site).returncode == 0
    index = (site / "index.html").read_text()
    models = json.loads(run("list", "-R", demo.root, "--json").stdout)["models"]
    assert sorted(m["name"] for m in models) == demo.models
    for model in models:
        assert f'href="models/{model["name"]}/index.html"' in index
        page = (site / "models" / model["name"] / "index.html").read_text()
        for stage, held in model["stages"].items():
            for number in [held] if isinstance(held, int) else held or []:
                assert f'href="models/{model["name"]}/index.html#v{number}" class="' in index or stage == "development"
                assert f'<a href="index.html#v{number}">v{number}</a>' in page, (model["name"], stage, number)
        for alias, number in model["aliases"].items():
            assert f"{alias} → v{number}" in index
        versions = json.loads(run("list", model["name"], "-R", demo.root, "--json").stdout)["versions"]
        for version in versions:
            assert f'<tr id="v{version["version"]}">' in page
            assert version["digest"] in page
            for key, value in version["metrics"].items():
                assert f'data-label="{key}" class="num" data-sort="{value!r}">{value!r}</td>' in page
            for key in version["params"]:
                assert f'<span class="k">{key}</span> ' in page
    churn = (site / "models" / "churn" / "index.html").read_text()
    assert churn.count('<svg class="chart"') == 3  # auc, epochs, loss
    timeline = churn[churn.index('<ol class="timeline">') : churn.index("</ol>", churn.index('<ol class="timeline">'))]
    # Newest first: v3 into production, v2 archived by it, v3 into staging, v2 production, v2 staging.
    moves = re.findall(r"<strong>v(\d)</strong>", timeline)
    assert moves == ["3", "2", "3", "2", "2"]
    assert "archive by carol" in timeline and "beats v2" in timeline


def test_commit_and_ci_links_come_from_the_git_remote_and_lineage(run, demo: Demo, tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert report(run, demo.root, site).returncode == 0
    churn = (site / "models" / "churn" / "index.html").read_text()
    assert f'href="https://github.com/acme/models/commit/{demo.commit}"' in churn
    assert 'href="https://github.com/acme/models/actions/runs/7001"' in churn
    odd = (site / "models" / ODD_NAME / "index.html").read_text()
    assert "gitlab-ci 99" in odd  # the run is named, but its javascript: URL is no link
    for html in files_of(site).values():
        assert b'href="javascript:' not in html.lower()
        assert HOSTILE_CI_URL.encode() not in html or b"<a" not in html.split(HOSTILE_CI_URL.encode())[0][-40:]


def test_markup_in_the_registry_is_text(run, demo: Demo, tmp_path: Path) -> None:
    site = tmp_path / "site"
    assert report(run, demo.root, site).returncode == 0
    for rel, data in files_of(site).items():
        if rel.endswith(".html"):
            html = data.decode()
            assert "<script>alert" not in html and 'id="injected"' not in html and "<img" not in html, rel
            assert html.count("<script") == 1, rel  # the site's own table.js, nothing else
    odd = (site / "models" / ODD_NAME / "index.html").read_text()
    from markupsafe import escape

    for value in (SCRIPT_DESCRIPTION, TAG_MARKUP, PARAM_MARKUP, LONG_TAG):
        assert str(escape(value)) in odd, value
    assert f'<h1 class="model-name">{ODD_NAME}</h1>' in odd


def test_the_same_registry_gives_the_same_bytes(run, demo: Demo, tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    assert report(run, demo.root, first).returncode == 0
    assert report(run, demo.root, second).returncode == 0
    assert files_of(first) == files_of(second)
    assert report(run, demo.root, first).returncode == 0  # over the earlier report
    assert files_of(first) == files_of(second)
    for data in files_of(first).values():
        assert str(tmp_path).encode() not in data and str(demo.root).encode() not in data


def test_a_moved_registry_gives_the_same_bytes(run, reg_path: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.bin"
    model.write_bytes(b"weights")
    assert run("register", "m", model, "-R", reg_path, "-m", "acc=0.5").returncode == 0
    assert report(run, reg_path, tmp_path / "a").returncode == 0
    moved = tmp_path / "elsewhere" / "deeper" / "reg"
    shutil.copytree(reg_path, moved, symlinks=True)
    assert report(run, moved, tmp_path / "b").returncode == 0
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")


def test_verify_in_a_second_process_gives_the_same_site(demo: Demo, tmp_path: Path) -> None:
    reg = Registry.open(demo.root)
    alone = reg.report(tmp_path / "alone", parallel=False)
    beside = reg.report(tmp_path / "beside", parallel=True)
    assert (alone.models, alone.versions, alone.verify_ok) == (beside.models, beside.versions, True)
    assert files_of(tmp_path / "alone") == files_of(tmp_path / "beside")


# -- what the report shows of odd registries --------------------------------------------------------


def test_an_empty_registry(run, reg_path: Path, tmp_path: Path) -> None:
    proc = report(run, reg_path, tmp_path / "site")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["models"] == 0
    assert "No models yet" in (tmp_path / "site" / "index.html").read_text()


def test_an_audit_action_it_does_not_know_is_shown_as_it_is(run, reg_path: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.bin"
    model.write_bytes(b"weights")
    assert run("register", "m", model, "-R", reg_path).returncode == 0
    reg = Registry.open(reg_path)
    with reg.audit_lock():
        reg.audit.append(
            [
                {
                    "time": "2031-01-02T03:04:05.000000Z",
                    "actor": "dana",
                    "action": "frobnicate",
                    "model": "m",
                    "version": 1,
                    "from_stage": "development",
                    "to_stage": "production",
                    "reason": "asked nicely",
                    "request": "r-17",
                    "weights": {"kept": [1, 2]},
                }
            ]
        )
    assert report(run, reg_path, tmp_path / "site").returncode == 0
    for page in ("index.html", "models/m/index.html"):
        html = (tmp_path / "site" / page).read_text()
        assert '<span class="action">frobnicate</span>' in html
        assert "asked nicely" in html and "r-17" in html and "{&#34;kept&#34;: [1, 2]}" in html
        assert "2031-01-02 03:04:05 UTC" in html
    model_page = (tmp_path / "site" / "models" / "m" / "index.html").read_text()
    assert "No version has changed stage yet." in model_page  # a request is no stage change


def test_a_corrupt_manifest_is_reported_not_fatal(run, reg_path: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.bin"
    for n in (1, 2):
        model.write_bytes(f"weights {n}".encode())
        assert run("register", "m", model, "-R", reg_path, "-m", f"acc=0.{n}").returncode == 0
    (reg_path / "models" / "m" / "versions" / "1.yaml").write_text("format_version: 1\nname: [broken\n")
    proc = run("report", "-R", reg_path, "--output", tmp_path / "site")
    assert proc.returncode == 0, proc.stderr
    assert "verify --quick found" in proc.stderr and "FAILED" in proc.stdout
    page = (tmp_path / "site" / "models" / "m" / "index.html").read_text()
    assert 'class="problem">' in page and "models/m/versions/1.yaml" in page
    assert "0.2" in page  # version 2 is still shown
    index = (tmp_path / "site" / "index.html").read_text()
    assert 'class="verdict failed"' in index and "models/m/versions/1.yaml" in index
    assert str(reg_path) not in index


def test_a_long_history_is_paged(run, reg_path: Path, tmp_path: Path) -> None:
    reg = Registry.open(reg_path)
    model = tmp_path / "m.bin"
    for n in range(1, 106):
        model.write_bytes(f"weights {n}".encode())
        reg.register("long", [model], metrics={"acc": n / 1000})
    reg.promote("long@3", "production")
    assert report(run, reg_path, tmp_path / "site").returncode == 0
    pages = tmp_path / "site" / "models" / "long"
    assert sorted(p.name for p in pages.iterdir()) == ["index.html", "versions-2.html"]
    first, second = (pages / "index.html").read_text(), (pages / "versions-2.html").read_text()
    assert re.findall(r'<tr id="v(\d+)">', first) == [str(n) for n in range(105, 5, -1)]
    assert re.findall(r'<tr id="v(\d+)">', second) == ["5", "4", "3", "2", "1"]
    assert '<a href="versions-2.html#v3">v3</a>' in first  # the production holder, on page 2
    index = (tmp_path / "site" / "index.html").read_text()
    assert 'href="models/long/versions-2.html#v3"' in index
    assert "and 99 more" in index  # development holds 104 versions: the newest 5 are named
    assert first.count("<circle") == 1  # 105 points: a line and the latest dot, no dot per version


# -- where it writes ------------------------------------------------------------------------------


def test_refuses_a_directory_it_did_not_write(run, demo: Demo, tmp_path: Path, tree_snapshot) -> None:
    target = tmp_path / "docs"
    (target / "notes").mkdir(parents=True)
    (target / "notes" / "keep.txt").write_text("mine")
    before = tree_snapshot(tmp_path)
    proc = report(run, demo.root, target)
    assert proc.returncode == 2
    assert "not a report modelreg wrote" in json.loads(proc.stderr.splitlines()[-1])["error"]["message"]
    assert tree_snapshot(tmp_path) == before


@pytest.mark.parametrize("intruder", ["file", "dir", "symlink"])
def test_refuses_an_earlier_report_holding_a_file_it_did_not_write(
    run, demo: Demo, tmp_path: Path, tree_snapshot, intruder: str
) -> None:
    site = tmp_path / "site"
    assert report(run, demo.root, site).returncode == 0
    if intruder == "file":
        (site / "CNAME").write_text("models.example.net\n")
    elif intruder == "dir":
        (site / "models" / "churn" / "extra").mkdir()
    else:
        (site / "assets" / "link.css").symlink_to(site / "assets" / "style.css")
    before = tree_snapshot(tmp_path)
    proc = report(run, demo.root, site)
    assert proc.returncode == 2, proc.stdout
    assert "which the report did not write" in json.loads(proc.stderr.splitlines()[-1])["error"]["message"]
    assert tree_snapshot(tmp_path) == before


def test_refuses_a_file_and_accepts_an_empty_directory(run, demo: Demo, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert report(run, demo.root, tmp_path / "file").returncode == 2
    (tmp_path / "empty").mkdir()
    assert report(run, demo.root, tmp_path / "empty").returncode == 0
    assert (tmp_path / "empty" / "index.html").is_file()


def test_refuses_the_current_directory(run, demo: Demo, tmp_path: Path) -> None:
    here = tmp_path / "site"
    here.mkdir()
    proc = run("report", "-R", demo.root, "--output", ".", "--json", cwd=here)
    assert proc.returncode == 2
    assert "current directory" in json.loads(proc.stderr.splitlines()[-1])["error"]["message"]
    assert list(here.iterdir()) == []


def test_a_full_disk_leaves_the_earlier_report_whole(run, reg_path: Path, tmp_path: Path, tree_snapshot) -> None:
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mount], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        model = tmp_path / "m.bin"
        model.write_bytes(b"weights")
        assert run("register", "m", model, "-R", reg_path).returncode == 0
        site = mount / "site"
        assert report(run, reg_path, site).returncode == 0
        before = tree_snapshot(mount)
        reg = Registry.open(reg_path)
        for n in range(40):  # a second report of about 1 MiB: more than the tmpfs holds
            model.write_bytes(f"weights {n}".encode())
            reg.register(f"m{n:02d}", [model], description="long words " * 180, params={"p": "x" * 1000})
        proc = report(run, reg_path, site)
        assert proc.returncode == 4, proc.stdout
        assert "cannot write" in json.loads(proc.stderr.splitlines()[-1])["error"]["message"]
        assert tree_snapshot(mount) == before  # the earlier report as it was, no staging left
    finally:
        subprocess.run(["umount", "-l", mount], check=False)


def test_killed_while_writing_leaves_the_earlier_report_and_the_next_run_cleans_up(
    reg_path: Path, tmp_path: Path, tree_snapshot
) -> None:
    reg = Registry.open(reg_path)
    model = tmp_path / "m.bin"
    for n in range(60):
        model.write_bytes(f"weights {n}".encode())
        reg.register(f"m{n:02d}", [model], metrics={"acc": n / 100})
    site = tmp_path / "out" / "site"
    reg.report(site, parallel=False)
    before = tree_snapshot(site)
    args = [sys.executable, "-m", "modelreg", "report", "-R", str(reg_path), "-o", str(site)]
    killed = False
    for _ in range(5):  # the staging directory must exist and be partly written when the kill lands
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            staged = [p for p in site.parent.iterdir() if p.name.endswith(".report-tmp")]
            if staged and (staged[0] / "models").is_dir() and len(list((staged[0] / "models").iterdir())) > 5:
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.005)
        proc.wait()
        if killed:
            break
    if not killed:
        pytest.skip("the report finished before it could be killed half way")
    assert tree_snapshot(site) == before
    assert [p.name for p in site.parent.iterdir() if p.name.endswith(".report-tmp")]
    reg.report(site, parallel=False)
    assert sorted(p.name for p in site.parent.iterdir()) == ["site"]
    assert files_of(site)["index.html"]


# -- the pieces -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("remote", "base"),
    [
        (GITHUB_REMOTE, "https://github.com/acme/models"),
        ("https://github.com/acme/models.git", "https://github.com/acme/models"),
        ("https://ada:ghp_secret@github.com/acme/models", "https://github.com/acme/models"),
        ("ssh://git@github.com/acme/models.git", "https://github.com/acme/models"),
        ("git@gitlab.com:group/sub/models.git", "https://gitlab.com/group/sub/models"),
        ("ssh://git@gitlab.example.net:2222/ml/models.git", "https://gitlab.example.net/ml/models"),
        ("https://bitbucket.org/acme/models.git", "https://bitbucket.org/acme/models"),
        ("https://git.example.net/acme/models.git", None),  # no known forge: no guessed link
        ("/srv/git/models.git", None),
        ("file:///srv/git/models.git", None),
        ("https://github.com/acme/../../evil", None),
        ('https://github.com/acme/models"><script>', None),
    ],
)
def test_web_base_of_a_remote(remote: str, base: str | None) -> None:
    assert web_base(remote) == base


def test_commit_and_ci_urls() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert commit_url("https://github.com/a/b", sha) == f"https://github.com/a/b/commit/{sha}"
    assert commit_url("https://gitlab.com/a/b", sha) == f"https://gitlab.com/a/b/-/commit/{sha}"
    assert commit_url("https://bitbucket.org/a/b", sha) == f"https://bitbucket.org/a/b/commits/{sha}"
    assert commit_url("https://github.com/a/b", "HEAD; rm -rf") is None
    assert commit_url(None, sha) is None
    assert safe_url("https://ci.example.net/runs/1") == "https://ci.example.net/runs/1"
    for bad in ("javascript:alert(1)", "https://user:pw@ci.example.net/", "data:text/html,x", "//ci.example.net", 7):
        assert safe_url(bad) is None


def test_git_remote_of_the_registry(tmp_path: Path) -> None:
    from modelreg.ops.report.links import registry_remote

    assert registry_remote(tmp_path) is None  # no repository
    git(tmp_path, "init", "-q")
    git(tmp_path, "remote", "add", "backup", "/srv/backup.git")
    assert registry_remote(tmp_path) is None
    git(tmp_path, "remote", "add", "upstream", "https://gitlab.com/x/y.git")
    assert registry_remote(tmp_path) == "https://gitlab.com/x/y"
    git(tmp_path, "remote", "add", "origin", "git@github.com:o/r.git")
    assert registry_remote(tmp_path) == "https://github.com/o/r"  # origin first


def test_charts_thin_long_series_but_keep_the_extremes() -> None:
    points = [(n, float(n % 97)) for n in range(1, 100_001)]
    points[54_321] = (54_322, 1e6)
    kept = thin(points)
    assert len(kept) <= MAX_POINTS
    assert (54_322, 1e6) in kept and min(v for _, v in kept) == 0.0
    assert kept == sorted(kept)
    svg = metric_chart("acc", points, "c0")
    assert svg == metric_chart("acc", points, "c0")
    assert 'role="img"' in svg and '<title id="c0-t">acc across versions</title>' in svg
    assert "highest 1e+06 at v54322" in svg
    one = metric_chart("<b>x</b>", [(1, 0.5)], "c1")
    assert "&lt;b&gt;x&lt;/b&gt;" in one and "<b>" not in one and one.count("<circle") == 1
