"""sign: a version's files signed in the OpenSSF Model Signing format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..group import command
from ..options import JsonOpt, RegistryOpt, complete_ref, open_registry
from ..output import Output, guard


@command(library="Registry.sign")
def sign(
    ref: Annotated[str, typer.Argument(help="NAME@REF: the version to sign.", autocompletion=complete_ref)],
    key: Annotated[
        Path,
        typer.Option("--key", help="EC private key (PEM or OpenSSH; passphrase from $MODELREG_KEY_PASSPHRASE)."),
    ],
    certificate: Annotated[
        Path | None,
        typer.Option("--certificate", help="PEM certificate of the key: the bundle carries it, with --chain."),
    ] = None,
    chain: Annotated[
        list[Path] | None,
        typer.Option("--chain", help="PEM certificates of the chain above --certificate (repeatable)."),
    ] = None,
    author: Annotated[
        str | None,
        typer.Option("--author", help="Who signs (default: $MODELREG_AUTHOR, git user.name, login name)."),
    ] = None,
    registry: RegistryOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sign a version's files; get --output --signature and export --signature write it as model.sig."""
    out = Output(json)
    with guard(out):
        reg = open_registry(registry, out)
        result = reg.sign(ref, key, actor=author, certificate=certificate, chain=chain or [])
        data = result.to_json()
        text = f"Signed {data['name']}@{data['version']} as {data['signer']}"
        out.result(data, lambda o: o.line(text))
