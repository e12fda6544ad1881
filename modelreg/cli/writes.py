"""``register``, without Typer.

Its Typer command (``commands/versions.py``) parses the command line and calls this function;
``fast_path.py`` parses the plain forms of the same command lines itself and calls it with the
same values, so both ways record the same version, print the same bytes and exit with the same
code. Every parameter is required: a new option must be passed by both callers (mypy says where).
Registering is what a training script or a CI job runs after every run, so its start-up counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .output import Output, guard, open_registry


def register(
    name: str,
    paths: list[Path],
    *,
    metric: list[str] | None,
    param: list[str] | None,
    tag: list[str] | None,
    metrics_file: Path | None,
    description: str,
    dataset: list[str] | None,
    stage: str | None,
    author: str | None,
    link: bool,
    python: Path | None,
    env_file: list[Path] | None,
    reason: str | None,
    sign: Path | None,
    push: bool,
    registry: Path | None,
    json: bool,
    quiet: bool,
) -> None:
    out = Output(json, quiet)
    with guard(out):
        from ..records.names import validate_name
        from .progress import planned_bar
        from .values import pairs

        validate_name(name)
        metrics: dict[str, Any] = dict(pairs(metric, "metric"))
        params, tags = pairs(param, "param"), pairs(tag, "tag")
        reg = open_registry(registry, out)
        with planned_bar(out, "register") as (progress, planned):
            result = reg.register(
                name,
                paths,
                metrics=metrics,
                metrics_file=metrics_file,
                params=params,
                tags=tags,
                description=description,
                datasets=dataset,
                stage=stage,
                author=author,
                link=link,
                push=True if push else None,
                reason=reason,
                python=python,
                env_files=env_file,
                progress=progress,
                planned=planned,
                sign=sign,
            )
        version = result.version
        for old in result.archived:
            out.note(f"{name}@{old} moved to {reg.config.archive_stage}")
        out.result(
            result.to_json(),
            lambda o: o.line(
                f"Registered {name}@{version.version} ({version.stage}) "
                + (version.digest[:19] if o.people else version.digest)  # a whole line on a terminal
            ),
        )
