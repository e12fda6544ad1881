"""Helpers for the report tests (``test_report_*.py``): a registry with something of everything.

The demo registry lives in a real git repository with a GitHub remote, so commit links can be
derived; one version was registered "in GitHub Actions" (its CI run has a URL) and one "in GitLab
CI" with a hostile pipeline URL. One model carries odd content: markup in its description, tag
and parameter values, a long name and a long unbroken tag value.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conftest import AUTHOR, MACHINE_ENV

from modelreg import Registry

ODD_NAME = ("forecast-" * 12)[:96] + "-odd"  # 100 characters, the longest name allowed
SCRIPT_DESCRIPTION = '<script>alert("description")</script><img src="https://img.example.net/x.png" onerror="x()">'
TAG_MARKUP = '"><b id="injected">bold</b>'
LONG_TAG = "unbroken" * 40  # 320 characters without a space
PARAM_MARKUP = "</td></tr><tr><td>cell & more"
REASON_MARKUP = '<em>urgent</em> & "quoted"'
HOSTILE_CI_URL = "javascript:alert(1)"
GITHUB_REMOTE = "git@github.com:acme/models.git"


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@contextlib.contextmanager
def isolated_env(base: Path) -> Iterator[None]:
    """What conftest's per-test environment gives, for fixtures that outlive one test."""
    saved = dict(os.environ)
    try:
        for name in MACHINE_ENV:
            os.environ.pop(name, None)
        os.environ["MODELREG_AUTHOR"] = AUTHOR
        os.environ["GIT_CEILING_DIRECTORIES"] = str(base.parent)
        os.environ["XDG_CONFIG_HOME"] = str(base / "home" / "config")
        os.environ["XDG_CACHE_HOME"] = str(base / "home" / "cache")
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def environ(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Demo:
    project: Path
    root: Path
    commit: str
    models: list[str] = field(default_factory=list)
    odd: dict[str, Any] = field(default_factory=dict)


def build_demo(base: Path) -> Demo:
    """The demo registry under ``base``/project/registry (call inside isolated_env or a test)."""
    project = base / "project"
    project.mkdir(parents=True)
    git(project, "init", "-q", "-b", "main")
    git(project, "config", "user.email", "ada@example.net")
    git(project, "config", "user.name", "Ada")
    git(project, "remote", "add", "origin", GITHUB_REMOTE)
    (project / "train.py").write_text("print('training')\n")
    git(project, "add", "train.py")
    git(project, "commit", "-q", "-m", "training code")
    commit = git(project, "rev-parse", "HEAD")
    reg, _ = Registry.init(project / "registry", actor="ada")
    weights = project / "work" / "model.bin"
    weights.parent.mkdir()

    def register(name: str, n: int, **kwargs: Any) -> None:
        weights.write_bytes(f"{name} {n}\n".encode() * 8)
        reg.register(name, [weights], cwd=project, **kwargs)

    for n, (auc, loss) in enumerate([(0.81, 0.42), (0.86, 0.35), (0.9, 0.31), (0.875, 0.3)], start=1):
        env = {}
        if n == 4:
            env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "acme/models", "GITHUB_RUN_ID": "7001"}
        with environ(**env):
            register(
                "churn",
                n,
                metrics={"auc": auc, "loss": loss, "epochs": 10 * n},
                params={"C": f"0.{n}", "penalty": "l2"},
                tags={"owner": "ada", "team": "growth"},
                description=f"Gradient boosting, run {n}",
                datasets=[f"s3://data/churn/2026-0{n}.parquet"],
                author="ada",
            )
    reg.promote("churn@2", "staging", reason="holdout looks good", actor="bob")
    reg.promote("churn@2", "production", reason="first release", actor="bob")
    reg.promote("churn@3", "staging", actor="ada")
    reg.promote("churn@3", "production", reason="beats v2", actor="carol")
    reg.alias("churn@3", "champion", actor="ada")
    reg.alias("churn@4", "challenger", actor="ada")

    register("fraud", 1, metrics={"precision": 0.97, "recall": 0.62}, description="Rules plus a small net")
    reg.promote("fraud@1", "staging", actor="ada")
    register("fraud", 2, metrics={"precision": 0.95, "recall": 0.71})

    with environ(GITLAB_CI="true", CI_PIPELINE_ID="99", CI_PIPELINE_URL=HOSTILE_CI_URL):
        register(
            ODD_NAME,
            1,
            metrics={"score": 1e-05},
            params={"markup": PARAM_MARKUP},
            tags={"markup": TAG_MARKUP, "long": LONG_TAG},
            description=SCRIPT_DESCRIPTION,
            datasets=["javascript:alert(2)"],
        )
    reg.promote(f"{ODD_NAME}@1", "production", reason=REASON_MARKUP, actor="ada")
    reg.annotate(ODD_NAME, description=SCRIPT_DESCRIPTION, set_tags={"markup": TAG_MARKUP})
    return Demo(
        project=project,
        root=project / "registry",
        commit=commit,
        models=sorted(["churn", "fraud", ODD_NAME]),
        odd={"name": ODD_NAME, "description": SCRIPT_DESCRIPTION, "tag": TAG_MARKUP, "long_tag": LONG_TAG},
    )
