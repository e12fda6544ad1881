"""deploy, undeploy, deployed, which, deploy-check, observe: what runs where, and which version
made a prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..group import command
from ..layout import Col
from ..options import (
    JsonOpt,
    ModelArg,
    QuietOpt,
    ReasonOpt,
    RegistryOpt,
    complete_env,
    complete_model,
    complete_ref,
    open_registry,
    pairs,
)
from ..output import Output, guard

EnvOpt = Annotated[
    str, typer.Option("--env", "-e", help="The environment (prod-eu, staging-us...).", autocompletion=complete_env)
]
TimeHelp = "a moment as inside @{...}: 2026-11-20T09:00:00Z, 2026-11-20 (that day's end, UTC) or 3d (ago)"


@command(library="Registry.deploy")
def deploy(
    ref: Annotated[
        str, typer.Argument(help="NAME@REF: the version the environment now serves.", autocompletion=complete_ref)
    ],
    env: EnvOpt,
    reason: ReasonOpt = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Record that an environment now serves a version (replacing the model's previous one there)."""
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        result = reg.deploy(ref, env, reason=reason)
        v = result.version
        if result.changed:
            was = f" (was version {result.previous})" if result.previous else ""
            text = f"Deployed {v.name}@{v.version} to {env}{was}"
        else:
            text = f"{env} already serves {v.name}@{v.version}; nothing changed"
        out.result(result.to_json(), lambda o: o.line(text))


@command(library="Registry.undeploy")
def undeploy(
    name: ModelArg,
    env: EnvOpt,
    reason: ReasonOpt = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Record that an environment no longer serves the model."""
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        result = reg.undeploy(name, env, reason=reason)
        out.result(
            result.to_json(), lambda o: o.line(f"{env} no longer serves {name} (it served version {result.version})")
        )


@command(library="Registry.deployed")
def deployed(
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Only this environment.", autocompletion=complete_env)
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only this model.", autocompletion=complete_model)
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help=f"What ran then: {TimeHelp}.")] = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """What runs where, now or at any moment (replayed from the audit history)."""
    out = Output(json)
    with guard(out):
        from .. import render

        reg = open_registry(registry, out)
        result = reg.deployed(env=env, model=model, at=at)

        def human(o: Output) -> None:
            if not result.deployments:
                o.line(f"nothing deployed{f' at {result.at}' if result.at else ''}")
                return
            render.table(
                o,
                [
                    Col("env"),
                    Col("model"),
                    Col("version", right=True),
                    Col("digest", shows="digest"),
                    Col("since", shows="time"),
                    Col("by"),
                ],
                [[r.env, r.model, r.version, r.digest, r.since, r.by] for r in result.deployments],
                title=f"at {result.at}" if result.at else None,
            )

        out.result(result.to_json(), human)


@command(library="Registry.which")
def which(
    prediction_id: Annotated[
        str, typer.Argument(metavar="ID", help="A prediction id minted by modelreg.serving.prediction_id.")
    ],
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """The version that made a prediction, and the environments that served it at that moment."""
    out = Output(json)
    with guard(out):
        from .. import render

        reg = open_registry(registry, out)
        result = reg.which(prediction_id)
        data = result.to_json()
        out.result(
            data,
            lambda o: render.mapping(
                o,
                f"{data['name']}@{data['version']}",
                [
                    ("prediction", data["id"]),
                    ("made at", data["at"]),
                    ("digest", data["digest"]),
                    ("served in", ", ".join(data["environments"]) or "no recorded environment"),
                ],
            ),
        )


@command("deploy-check", library="Registry.deploy_check")
def deploy_check(
    name: ModelArg,
    env: EnvOpt,
    path: Annotated[Path, typer.Option("--path", help="The directory the environment serves from.")],
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Exit 0 when DIR holds exactly the version recorded for the model in the environment, 5 otherwise."""
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        result = reg.deploy_check(name, env, path)
        v = result.version
        out.result(result.to_json(), lambda o: o.line(f"{path} holds {v.name}@{v.version}, as deployed in {env}"))


@command(library="Registry.observe")
def observe(
    ref: Annotated[str, typer.Argument(help="NAME@REF: the version measured.", autocompletion=complete_ref)],
    metric: Annotated[
        list[str], typer.Option("--metric", "-m", help="What was measured, KEY=NUMBER (repeatable, each key once).")
    ],
    env: Annotated[
        str | None, typer.Option("--env", "-e", help="Where it was measured.", autocompletion=complete_env)
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help=f"When it was measured (default now): {TimeHelp}.")] = None,
    reason: ReasonOpt = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Record production measurements of a version (accuracy on labelled traffic, latency, drift)."""
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        result = reg.observe(ref, dict(pairs(metric, "metric")), env=env, at=at, reason=reason)
        shown = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.metrics.items())
        where = f" in {result.env}" if result.env else ""
        out.result(
            result.to_json(),
            lambda o: o.line(f"Observed {result.model}@{result.version}{where} at {result.at}: {shown}"),
        )
