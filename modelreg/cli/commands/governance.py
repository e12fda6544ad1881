"""check, request, requests, approve, reject, remove and trust: the rules of a registry."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..group import command
from ..options import (
    JsonOpt,
    QuietOpt,
    RegistryOpt,
    complete_model,
    complete_ref,
    complete_stage,
    open_registry,
)
from ..output import Output, guard

if TYPE_CHECKING:
    from ...ops.governance.policy import Evaluation

RefArg = Annotated[str, typer.Argument(help="NAME@REF: the version.", autocompletion=complete_ref)]
StageArg = Annotated[str, typer.Argument(help="Target stage.", autocompletion=complete_stage)]
IdArg = Annotated[str, typer.Argument(help="Request id (see: modelreg requests).")]
SignKeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--sign",
        help="Sign the decision with this SSH private key (ssh-keygen -Y); allowed_signers must give it to you.",
    ),
]
AuthorOpt = Annotated[
    str | None,
    typer.Option("--author", help="Who decides (default: $MODELREG_AUTHOR, git user.name, login name)."),
]


def _why(required: bool) -> Any:
    return typer.Option(
        "--reason", help="Why, recorded in the request and the audit log." + (" Required." if required else "")
    )


@command(library="Registry.check")
def check(
    ref: RefArg,
    stage: StageArg,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """Evaluate moving a version to a stage without changing anything (exit 0 allowed, 4 not).

    Evaluates the transition, every gate and the approvals, and prints the evaluation whether or not the move is
    allowed.
    """
    out = Output(json)
    with guard(out):
        reg = open_registry(registry, out)
        evaluation = reg.check(ref, stage)
        out.result(evaluation.to_json(), lambda o: _render_check(o, evaluation))
        if not evaluation.allowed:
            raise evaluation.refusal(f"moving {evaluation.name}@{evaluation.version} to {stage}")


def _render_check(o: Output, ev: Evaluation) -> None:
    from .. import render

    render.table(
        o,
        ["rule", "passed", "detail"],
        [[r.rule, "yes" if r.passed else "NO", r.detail] for r in ev.checks],
        title=f"{ev.name}@{ev.version}: {ev.from_stage or 'new'} -> {ev.stage}",
    )
    if ev.required:
        by = f" ({', '.join(ev.approvers)})" if ev.approvers else ""
        o.line(f"approvals: {len(ev.approvers)} of {ev.required}{by}")
    o.line("allowed" if ev.allowed else "not allowed")


@command(library="Registry.request")
def request(
    ref: RefArg,
    stage: StageArg,
    reason: Annotated[str | None, _why(True)] = None,
    author: AuthorOpt = None,
    sign: SignKeyOpt = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """File a request to move a version to a stage that needs approvals.

    Checks the transition and the gates, then files the request: a file in the registry and a request entry in the
    audit log.
    """
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        result = reg.request(ref, stage, reason=reason, actor=author, sign=sign)
        filed = result.request
        data = result.to_json()
        text = (
            f"Filed request {filed.id}: {filed.name}@{filed.version} {filed.from_stage} -> {filed.stage} "
            f"(needs {data['required']} approval(s)); reviewers run: modelreg approve {filed.id}"
        )
        out.result(data, lambda o: o.line(text))


@command(library="Registry.list_requests")
def requests(
    name: Annotated[
        str | None, typer.Argument(help="Only this model's requests.", autocompletion=complete_model)
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every request, not only the open ones.")] = False,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """The open requests (--all: every one), oldest first."""
    out = Output(json)
    with guard(out):
        from .. import render

        result = open_registry(registry, out).list_requests(name, include_closed=all_)
        rows = [
            [
                r["id"],
                f"{r['name']}@{r['version']}",
                f"{r['from_stage']}->{r['stage']}",
                r["status"],
                f"{r['granted']}/{r['required']}",
                r["requested_by"],
                r["reason"],
            ]
            for r in result.requests
        ]
        headers = ["id", "version", "move", "status", "approvals", "requested by", "reason"]
        out.result(result.to_json(), lambda o: render.table(o, headers, rows))


@command(library="Registry.approve")
def approve(
    request_id: IdArg,
    reason: Annotated[str | None, _why(False)] = None,
    author: AuthorOpt = None,
    sign: SignKeyOpt = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Approve a request; the approval that completes the count applies the promotion.

    Never by its requester, never twice by one person. The approval that reaches the count promotes, after
    re-checking the gates.
    """
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        decided = reg.approve(request_id, reason=reason, actor=author, sign=sign)
        r = decided.request
        count = f"{len(r.approvers())} of {decided.required}"
        if decided.promoted is not None:
            for old in decided.promoted.archived:
                out.note(f"{r.name}@{old} moved to {reg.config.archive_stage}")
            move = f"{decided.promoted.from_stage} -> {r.stage}"
            text = f"Approved request {r.id} ({count}): promoted {r.name}@{r.version} {move}"
        else:
            text = f"Approved request {r.id} ({count}); it stays open"
        out.result(decided.to_json(), lambda o: o.line(text))


@command(library="Registry.reject")
def reject(
    request_id: IdArg,
    reason: Annotated[str | None, _why(True)] = None,
    author: AuthorOpt = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Reject (or, as its requester, withdraw) an open request; nothing moves."""
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        decided = reg.reject(request_id, reason=reason, actor=author)
        r = decided.request
        out.result(
            decided.to_json(),
            lambda o: o.line(f"Rejected request {r.id} ({r.name}@{r.version} -> {r.stage})"),
        )


@command(library="Registry.remove")
def remove(
    ref: RefArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why it is removed (required; kept for good).")] = None,
    author: AuthorOpt = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Retire a version for good (a recall): out of every stage and of latest, its bytes left to gc.

    Its open requests are cancelled and its aliases deleted; its manifest and history are kept.
    """
    out = Output(json, quiet)
    with guard(out):
        reg = open_registry(registry, out)
        result = reg.remove(ref, reason=reason, actor=author)
        v = result.version
        data = result.to_json()
        if result.changed:
            text = f"Removed {v.name}@{v.version} (was {result.from_stage}); 'modelreg gc' reclaims its bytes"
        else:
            text = f"{v.name}@{v.version} was already removed; nothing changed"
        for request_id in result.cancelled:
            out.note(f"request {request_id} cancelled")
        out.result(data, lambda o: o.line(text))


@command(library=("Registry.trust", "Registry.trust_status"))
def trust(
    revoke: Annotated[bool, typer.Option("--revoke", help="Stop trusting this registry's commands.")] = False,
    show: Annotated[
        bool, typer.Option("--show", help="Show the commands and whether they are trusted; change nothing.")
    ] = False,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Let this machine run the registry's hook and check commands as they are now (review them first).

    --show tells whether they are trusted, --revoke forgets them.
    """
    out = Output(json, quiet)
    with guard(out):
        from .. import render

        reg = open_registry(registry, out)
        status = reg.trust_status() if show else reg.trust(revoke=revoke)
        commands = status.commands
        rows = [["hook", event, cmd] for event, cmds in commands["hooks"].items() for cmd in cmds]
        rows += [["check", stage, cmd] for stage, cmds in commands["checks"].items() for cmd in cmds]

        def human(o: Output) -> None:
            if rows:
                render.table(o, ["kind", "event/stage", "command"], rows)
            if not rows:
                o.line(f"{status.path}: modelreg.toml names no commands; nothing to trust")
            elif revoke:
                o.line(f"No longer trusted: {status.path}" if status.changed else f"{status.path} was not trusted")
            elif show:
                state = "trusted" if status.trusted else "NOT trusted"
                o.line(
                    f"{state} on this machine{' (MODELREG_TRUST=1)' if status.by_environment else ''}: {status.path}"
                )
                for change in status.changes:
                    o.line(f"  since trusted: {change}")
                if status.files:
                    named = ", ".join(status.files)
                    o.line(f"  covers {len(status.files)} registry file(s) the commands name: {named}")
            else:
                o.line(f"Trusted {len(rows)} command(s) of {status.path}" if status.changed else "Already trusted")

        out.result(status.to_json(), human)
