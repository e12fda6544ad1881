"""Command by command, the CLI's --json document is the library result's ``to_json()`` for the same call.

Read commands run both ways on one registry. A changing command runs on two registries built
identically, one after the other at the same place (so paths agree): the CLI changes the first,
the library the second. Their documents are then compared after normalising only what must
differ between two runs: times (``...T...Z``), request ids (eight random hex digits, under
the keys ``id``, ``request`` and ``cancelled``) and the digest of a push's publication (it
covers the audit log, times included). Trust is this machine's record, not the
registry's: it is forgotten between the two.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import write_file
from support.governance import add_policy

from modelreg import Registry

TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")
REQUEST_ID = re.compile(r"^[0-9a-f]{8}$")
ID_KEYS = {"id", "request", "cancelled"}
PUBLISHED = re.compile(r"^[0-9a-f]{64}$")  # a push's publication: it hashes the audit log, times included


def normalised(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: normalised(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v, key) for v in value]
    if isinstance(value, str) and TIME.match(value):
        return "<time>"
    if isinstance(value, str) and key in ID_KEYS and REQUEST_ID.match(value):
        return "<request id>"
    if isinstance(value, str) and key == "published" and PUBLISHED.match(value):
        return "<publication>"
    return value


def as_json(result: Any) -> Any:
    """What the library result would print: through the same encoder, so tuples become lists."""
    return json.loads(json.dumps(result.to_json(), ensure_ascii=False))


@dataclass
class Built:
    root: Path
    remote: Path
    tmp: Path
    request_id: str
    prediction: str = ""
    reg: Registry = field(init=False)

    def __post_init__(self) -> None:
        self.reg = Registry.open(self.root)


def build(tmp: Path) -> Built:
    """Two models, versions in several stages, an alias, an open request and a directory remote."""
    root, remote = tmp / "reg", tmp / "remote"
    remote.mkdir()
    reg, _ = Registry.init(root)
    config = root / "modelreg.toml"
    config.write_text(config.read_text().replace("[remote]\n", f'[remote]\nurl = "{remote}"\n'))
    add_policy(root, "[gates.production]\napprovals = 1\n")
    reg = Registry.open(root)
    one = write_file(tmp / "src" / "v1" / "model.bin", b"weights one")
    two = write_file(tmp / "src" / "v2" / "model.bin", b"weights two, longer")
    write_file(tmp / "src" / "v2" / "card.md", "# card\n")
    reg.register("churn", one, metrics={"accuracy": 0.81}, params={"C": "0.1"}, tags={"team": "growth"})
    reg.register("churn", two.parent, metrics={"accuracy": 0.9}, params={"C": "1"}, description="second")
    reg.register("other", write_file(tmp / "src" / "o" / "w.bin", b"other"))
    reg.promote("churn@1", "staging")
    reg.alias("churn@1", "champion")
    filed = reg.request("churn@1", "production", reason="ship it")
    return Built(root, remote, tmp, filed.request.id)


def production(built: Built) -> Built:
    """The request approved: churn@1 in production."""
    built.reg.approve(built.request_id, reason="looks good", actor="reviewer")
    return built


def two_productions(built: Built) -> Built:
    """churn@1 in production, then churn@2 in its place (churn@1 archived)."""
    production(built)
    filed = built.reg.request("churn@2", "production", reason="better")
    built.reg.approve(filed.request.id, actor="reviewer")
    return built


def metrics_file(built: Built) -> Path:
    return write_file(built.tmp / "metrics.json", '{"auc": 0.7, "loss": 0.25}')


def pushed_then_lost(built: Built) -> Built:
    """Everything on the remote, the local blobs gone: a fresh clone."""
    built.reg.push()
    shutil.rmtree(built.root / "blobs")
    return built


def deployed(built: Built) -> Built:
    """churn@1 in production, deployed to prod-eu, measured there and served into ``served/``;
    a prediction it made."""
    from modelreg.serving import prediction_id

    production(built)
    built.reg.deploy("churn@1", "prod-eu", reason="ship")
    built.reg.observe("churn@1", {"accuracy": 0.8}, env="prod-eu")
    built.reg.get("churn@1", output=built.tmp / "served", path=False)
    built.prediction = prediction_id(built.reg.resolve("churn@1").digest)
    return built


def key(built: Built) -> Path:
    """An EC private key outside the registry (the same file for both registries)."""
    import subprocess

    found = built.tmp.parent / "signer.key"
    if not found.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-C", "ada", "-f", str(found)], check=True)
    return found


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return deployed(build(tmp_path))


def cli_json(cli: Any, args: list[Any], code: int = 0) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == code, (args, result.stdout, result.stderr)
    return json.loads(result.stdout)


# -- read commands: one registry ----------------------------------------------------------------

Call = Callable[[Built], Any]
READS: list[tuple[str, Callable[[Built], list[Any]], Call, int]] = [
    ("list", lambda b: ["list"], lambda b: b.reg.listing(), 0),
    ("list --stage", lambda b: ["list", "--stage", "production"], lambda b: b.reg.listing(stage="production"), 0),
    (
        "list NAME --where --sort",
        lambda b: ["list", "churn", "--where", "metrics.accuracy>=0.5", "--sort", "-metrics.accuracy"],
        lambda b: b.reg.listing("churn", where=["metrics.accuracy>=0.5"], sort="-metrics.accuracy"),
        0,
    ),
    ("show NAME", lambda b: ["show", "churn"], lambda b: b.reg.show("churn"), 0),
    ("show NAME@REF", lambda b: ["show", "churn@1"], lambda b: b.reg.show("churn@1"), 0),
    ("get", lambda b: ["get", "churn@2"], lambda b: b.reg.get("churn@2"), 0),
    ("get alias", lambda b: ["get", "churn@champion"], lambda b: b.reg.get("churn@champion"), 0),
    ("get --path", lambda b: ["get", "churn@1", "--path"], lambda b: b.reg.get("churn@1", strict=True), 0),
    ("get-production", lambda b: ["get-production", "churn"], lambda b: b.reg.get_production_files("churn"), 0),
    ("log", lambda b: ["log"], lambda b: b.reg.log(), 0),
    (
        "log NAME --action --limit",
        lambda b: ["log", "churn", "--action", "promote", "--limit", "1"],
        lambda b: b.reg.log("churn", actions=["promote"], limit=1),
        0,
    ),
    ("verify", lambda b: ["verify"], lambda b: b.reg.verify(), 0),
    ("verify --quick NAME", lambda b: ["verify", "--quick", "churn"], lambda b: b.reg.verify("churn", quick=True), 0),
    ("diff", lambda b: ["diff", "churn@1", "2"], lambda b: b.reg.diff("churn@1", "2"), 0),
    ("stats", lambda b: ["stats"], lambda b: b.reg.stats(), 0),
    ("stats NAME", lambda b: ["stats", "other"], lambda b: b.reg.stats("other"), 0),
    ("requests", lambda b: ["requests"], lambda b: b.reg.list_requests(), 0),
    (
        "requests --all",
        lambda b: ["requests", "churn", "--all"],
        lambda b: b.reg.list_requests("churn", include_closed=True),
        0,
    ),
    ("check allowed", lambda b: ["check", "churn@2", "staging"], lambda b: b.reg.check("churn@2", "staging"), 0),
    ("check refused", lambda b: ["check", "churn@2", "production"], lambda b: b.reg.check("churn@2", "production"), 4),
    ("alias NAME", lambda b: ["alias", "churn"], lambda b: b.reg.list_aliases("churn"), 0),
    ("trust --show", lambda b: ["trust", "--show"], lambda b: b.reg.trust_status(), 0),
    ("gc --dry-run", lambda b: ["gc", "--dry-run"], lambda b: b.reg.gc(dry_run=True), 0),
    ("deployed", lambda b: ["deployed"], lambda b: b.reg.deployed(), 0),
    (
        "deployed --env --model --at",
        lambda b: ["deployed", "--env", "prod-eu", "--model", "churn", "--at", "2020-01-01"],
        lambda b: b.reg.deployed(env="prod-eu", model="churn", at="2020-01-01"),
        0,
    ),
    ("which", lambda b: ["which", b.prediction], lambda b: b.reg.which(b.prediction), 0),
    (
        "deploy-check",
        lambda b: ["deploy-check", "churn", "--env", "prod-eu", "--path", b.tmp / "served"],
        lambda b: b.reg.deploy_check("churn", "prod-eu", b.tmp / "served"),
        0,
    ),
]


@pytest.mark.parametrize(("label", "args", "call", "code"), READS, ids=[r[0] for r in READS])
def test_read_commands(label: str, args: Any, call: Call, code: int, built: Built, cli: Any) -> None:
    from_cli = cli_json(cli, [*args(built), "-R", built.root], code)
    assert from_cli == as_json(call(built))


def test_completion(cli: Any) -> None:
    import modelreg

    for shell in ("bash", "zsh", "fish"):
        assert cli_json(cli, ["completion", shell]) == as_json(modelreg.completion_script(shell))


def test_get_without_blobs_reports_no_path_both_ways(built: Built, cli: Any) -> None:
    """--json still names the version when its files cannot be had; so does the library, with a warning."""
    shutil.rmtree(built.root / "blobs")
    shutil.rmtree(built.remote)
    result = cli("get", "churn@2", "-R", built.root, "--json")
    assert result.exit_code == 0, result.stderr
    served = built.reg.get("churn@2")
    assert json.loads(result.stdout) == as_json(served)
    assert served.path is None and served.warnings
    assert served.warnings[0] in result.stderr


def test_results_carry_the_warnings_the_command_prints(built: Built, cli: Any) -> None:
    """A report of a registry that fails verify: the library result holds the warning the command prints."""
    blob = next(p for p in (built.root / "blobs" / "sha256").rglob("*") if p.is_file())
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes() + b"tampered")  # verify --quick compares sizes
    result = cli("report", "-o", built.tmp / "site", "-R", built.root, "--json")
    assert result.exit_code == 0, result.stderr
    report = built.reg.report(built.tmp / "site")
    assert json.loads(result.stdout) == as_json(report)
    assert report.verify_ok is False and len(report.warnings) == 1
    assert f"warning: {report.warnings[0]}" in result.stderr


# -- changing commands: two registries built alike -----------------------------------------------

Prepare = Callable[[Built], Built]
CHANGES: list[tuple[str, Prepare, Callable[[Built], list[Any]], Call]] = [
    (
        "register",
        production,
        lambda b: ["register", "churn", b.tmp / "src" / "v1", "-m", "accuracy=0.95", "-t", "team=x", "-d", "third"],
        lambda b: b.reg.register(
            "churn", b.tmp / "src" / "v1", metrics={"accuracy": 0.95}, tags={"team": "x"}, description="third"
        ),
    ),
    (
        "register --metrics-file",
        production,
        lambda b: ["register", "other", b.tmp / "src" / "o", "--metrics-file", metrics_file(b)],
        lambda b: b.reg.register("other", b.tmp / "src" / "o", metrics_file=metrics_file(b)),
    ),
    ("promote", production, lambda b: ["promote", "churn@2", "staging"], lambda b: b.reg.promote("churn@2", "staging")),
    (
        "promote, nothing to do",
        production,
        lambda b: ["promote", "churn@1", "production"],
        lambda b: b.reg.promote("churn@1", "production"),
    ),
    ("rollback", two_productions, lambda b: ["rollback", "churn"], lambda b: b.reg.rollback("churn")),
    ("alias", production, lambda b: ["alias", "churn@2", "champion"], lambda b: b.reg.alias("churn@2", "champion")),
    (
        "alias --delete",
        production,
        lambda b: ["alias", "churn", "champion", "--delete"],
        lambda b: b.reg.delete_alias("churn", "champion"),
    ),
    (
        "annotate",
        production,
        lambda b: ["annotate", "churn@2", "-d", "better", "--tag", "k=v", "--untag", "nope"],
        lambda b: b.reg.annotate("churn@2", description="better", set_tags={"k": "v"}, unset_tags=["nope"]),
    ),
    (
        "request",
        lambda b: b,
        lambda b: ["request", "churn@2", "production", "--reason", "better"],
        lambda b: b.reg.request("churn@2", "production", reason="better"),
    ),
    (
        "approve",
        lambda b: b,
        lambda b: ["approve", b.request_id, "--author", "reviewer"],
        lambda b: b.reg.approve(b.request_id, actor="reviewer"),
    ),
    (
        "reject",
        lambda b: b,
        lambda b: ["reject", b.request_id, "--reason", "not yet", "--author", "reviewer"],
        lambda b: b.reg.reject(b.request_id, reason="not yet", actor="reviewer"),
    ),
    (
        "remove",
        lambda b: b,
        lambda b: ["remove", "churn@1", "--reason", "leaks"],
        lambda b: b.reg.remove("churn@1", reason="leaks"),
    ),
    ("trust", production, lambda b: ["trust"], lambda b: b.reg.trust()),
    ("trust --revoke", production, lambda b: ["trust", "--revoke"], lambda b: b.reg.trust(revoke=True)),
    ("gc", production, lambda b: ["gc", "--grace", "0"], lambda b: b.reg.gc(grace=0)),
    ("push", production, lambda b: ["push"], lambda b: b.reg.push()),
    ("push NAME@REF", production, lambda b: ["push", "churn@2", "-j", "2"], lambda b: b.reg.push("churn@2", jobs=2)),
    ("pull", pushed_then_lost, lambda b: ["pull"], lambda b: b.reg.pull()),
    ("upgrade", production, lambda b: ["upgrade"], lambda b: b.reg.upgrade()),
    (
        "export",
        production,
        lambda b: ["export", "churn@2", b.tmp / "out"],
        lambda b: b.reg.get("churn@2", output=b.tmp / "out", path=False),
    ),
    (
        "get --output",
        production,
        lambda b: ["get", "churn@2", "--output", b.tmp / "out"],
        lambda b: b.reg.get("churn@2", output=b.tmp / "out"),
    ),
    (
        "get-production --output --path",
        production,
        lambda b: ["get-production", "churn", "--output", b.tmp / "out", "--path"],
        lambda b: b.reg.get_production_files("churn", output=b.tmp / "out", strict=True),
    ),
    ("report", production, lambda b: ["report", "-o", b.tmp / "site"], lambda b: b.reg.report(b.tmp / "site")),
    (
        "deploy",
        production,
        lambda b: ["deploy", "churn@1", "--env", "prod-eu", "--reason", "ship"],
        lambda b: b.reg.deploy("churn@1", "prod-eu", reason="ship"),
    ),
    (
        "deploy, replacing",
        deployed,
        lambda b: ["deploy", "churn@2", "--env", "prod-eu"],
        lambda b: b.reg.deploy("churn@2", "prod-eu"),
    ),
    (
        "undeploy",
        deployed,
        lambda b: ["undeploy", "churn", "--env", "prod-eu"],
        lambda b: b.reg.undeploy("churn", "prod-eu"),
    ),
    (
        "observe",
        deployed,
        lambda b: ["observe", "churn@1", "-m", "accuracy=0.75", "-m", "latency_ms=12", "--env", "prod-eu"],
        lambda b: b.reg.observe("churn@1", {"accuracy": 0.75, "latency_ms": 12}, env="prod-eu"),
    ),
    (
        "sign",
        production,
        lambda b: ["sign", "churn@2", "--key", key(b), "--author", "ada"],
        lambda b: b.reg.sign("churn@2", key(b), actor="ada"),
    ),
    (
        "register --sign",
        production,
        lambda b: ["register", "other", b.tmp / "src" / "o", "--sign", key(b), "--author", "ada"],
        lambda b: b.reg.register("other", b.tmp / "src" / "o", sign=key(b), author="ada"),
    ),
    (
        "export --signature",
        lambda b: (b.reg.sign("churn@2", key(b), actor="ada"), b)[1],
        lambda b: ["export", "churn@2", b.tmp / "out", "--signature"],
        lambda b: b.reg.get("churn@2", output=b.tmp / "out", path=False, signature=True),
    ),
]


def twice(tmp: Path, prepare: Prepare) -> tuple[Built, Callable[[], Built]]:
    """The first registry, and how to put an identical second one in its place (and forget
    that this machine trusted the first: that record is the machine's, not the registry's)."""
    from modelreg.ops.events.trust import trust_file

    place = tmp / "place"

    def again() -> Built:
        trust_file().unlink(missing_ok=True)
        shutil.rmtree(place)
        place.mkdir()
        return prepare(build(place))

    place.mkdir()
    return prepare(build(place)), again


@pytest.mark.parametrize(("label", "prepare", "args", "call"), CHANGES, ids=[c[0] for c in CHANGES])
def test_changing_commands(label: str, prepare: Prepare, args: Any, call: Call, tmp_path: Path, cli: Any) -> None:
    first, again = twice(tmp_path, prepare)
    from_cli = cli_json(cli, [*args(first), "-R", first.root])
    second = again()
    assert second.root == first.root
    from_library = as_json(call(second))
    assert normalised(from_cli) == normalised(from_library)


def test_init(tmp_path: Path, cli: Any) -> None:
    from_cli = cli_json(cli, ["init", tmp_path / "reg"])
    again = cli_json(cli, ["init", tmp_path / "reg"])
    shutil.rmtree(tmp_path / "reg")
    assert from_cli == as_json(Registry.init(tmp_path / "reg"))
    assert again == as_json(Registry.init(tmp_path / "reg")) and again["created"] is False


def test_normalising_keeps_what_must_agree() -> None:
    """Only times and request ids are blotted out: a different version or digest still differs."""
    a = {"id": "0a1b2c3d", "version": 2, "created_at": "2026-01-02T03:04:05.000006Z", "digest": "sha256:ab"}
    b = {"id": "ffffffff", "version": 2, "created_at": "2027-01-02T03:04:05.000006Z", "digest": "sha256:ab"}
    assert normalised(a) == normalised(b)
    assert normalised(a) != normalised({**b, "version": 3})
    assert normalised(a) != normalised({**b, "digest": "sha256:ac"})
    assert normalised({"name": "0a1b2c3d"}) != normalised({"name": "ffffffff"})


@pytest.fixture
def mlflow_store(tmp_path_factory: Any) -> dict[str, Any]:
    pytest.importorskip("mlflow")
    from support.mlflow_stores import session_store

    return session_store(tmp_path_factory)


@pytest.mark.parametrize("dry_run", [True, False])
def test_import(dry_run: bool, mlflow_store: dict[str, Any], tmp_path: Path, cli: Any) -> None:
    uri = mlflow_store["tracking_uri"]
    flags = ["--dry-run"] if dry_run else []
    first, again = twice(tmp_path, production)
    from_cli = cli_json(cli, ["import", "mlflow", "--tracking-uri", uri, "--model", "churn", *flags, "-R", first.root])
    second = again()
    from_library = as_json(second.reg.import_mlflow(uri, models=["churn"], dry_run=dry_run))
    assert normalised(from_cli) == normalised(from_library)
    assert from_cli["imported"]
