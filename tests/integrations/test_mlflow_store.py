"""MLflow's registry client on a modelreg registry (the `modelreg:` plugin), against real MLflow.

Each call goes through `MlflowClient` (MLflow finds the store by its entry point) and what it
changed is read back with `modelreg ... --json` on the same registry. The behaviours are those
MLflow's own model-registry store tests hold its stores to: names, numbering, error codes,
search grammar and pages, tags, stages, aliases, deletion.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow", reason="the MLflow extra is not installed (pip install -e '.[test]')")

import mlflow
from conftest import AUTHOR
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from support.mlflow_stores import files_of, write_model

from modelreg.integrations.mlflow.entities import millis
from modelreg.integrations.mlflow.source import key
from modelreg.integrations.mlflow.stages import Stages
from modelreg.ops.importers.naming import key as imported_key

Cli = Callable[..., Any]


def code_of(exc: pytest.ExceptionInfo[MlflowException]) -> str:
    return str(exc.value.error_code)


def cli_json(cli: Cli, reg: Path, *args: Any) -> Any:
    result = cli(*args, "-R", reg, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def reg(reg_path: Path) -> Path:
    return reg_path


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One sqlite tracking store for the module (the registry tests read no run from it)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('tracking') / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).search_experiments()
    return uri


@pytest.fixture
def client(reg: Path, tracking: str) -> Iterator[MlflowClient]:
    """A client whose registry is the modelreg registry."""
    yield MlflowClient(tracking_uri=tracking, registry_uri=f"modelreg://{reg}")


@pytest.fixture
def model_dir(tmp_path: Path) -> Callable[[int], Path]:
    def make(seed: int) -> Path:
        path = tmp_path / f"model-{seed}"
        if not path.exists():
            write_model(path, seed)
        return path

    return make


def new_version(client: MlflowClient, name: str, source: Path, **kwargs: Any) -> Any:
    return client.create_model_version(name, str(source), **kwargs)


# -- registered models -------------------------------------------------------------------------


def test_create_and_get_a_registered_model(client: MlflowClient, reg: Path, cli: Cli) -> None:
    made = client.create_registered_model("churn", tags={"team": "growth"}, description="Who leaves.")
    assert made.name == "churn" and made.description == "Who leaves." and made.tags == {"team": "growth"}
    assert made.creation_timestamp and made.last_updated_timestamp == made.creation_timestamp
    got = client.get_registered_model("churn")
    assert (got.name, got.description, got.tags, got.latest_versions) == ("churn", "Who leaves.", made.tags, [])
    shown = cli_json(cli, reg, "show", "churn")
    assert shown["description"] == "Who leaves." and shown["tags"] == {"team": "growth"} and shown["versions"] == []
    log = cli_json(cli, reg, "log", "churn")["entries"]
    assert [(e["action"], e["actor"]) for e in log] == [("annotate", AUTHOR)]


def test_a_name_taken_or_unusable_is_refused_with_mlflows_codes(client: MlflowClient, reg: Path, cli: Cli) -> None:
    client.create_registered_model("churn")
    with pytest.raises(MlflowException) as taken:
        client.create_registered_model("churn")
    assert code_of(taken) == "RESOURCE_ALREADY_EXISTS"
    for bad in ("", "a/b", "Churn Model", "-x"):
        with pytest.raises(MlflowException) as refused:
            client.create_registered_model(bad)
        assert code_of(refused) == "INVALID_PARAMETER_VALUE", bad
    assert [m["name"] for m in cli_json(cli, reg, "list")["models"]] == ["churn"]
    for missing in ("nope", "Churn Model"):
        with pytest.raises(MlflowException) as unknown:
            client.get_registered_model(missing)
        assert code_of(unknown) == "RESOURCE_DOES_NOT_EXIST"


def test_update_description_and_model_tags(client: MlflowClient, reg: Path, cli: Cli) -> None:
    first = client.create_registered_model("churn", tags={"a": "1", "b": "2"})
    updated = client.update_registered_model("churn", description="second thoughts")
    assert updated.description == "second thoughts"
    assert updated.last_updated_timestamp >= first.last_updated_timestamp
    client.set_registered_model_tag("churn", "a", "changed")
    client.delete_registered_model_tag("churn", "b")
    client.delete_registered_model_tag("churn", "never-set")  # as in MLflow: no error
    with pytest.raises(MlflowException) as no_key:
        client.delete_registered_model_tag("churn", None)  # type: ignore[arg-type]
    assert code_of(no_key) == "INVALID_PARAMETER_VALUE"
    shown = cli_json(cli, reg, "show", "churn")
    assert shown["description"] == "second thoughts" and shown["tags"] == {"a": "changed"}
    assert client.get_registered_model("churn").tags == {"a": "changed"}
    for call in (
        lambda: client.update_registered_model("nope", description="x"),
        lambda: client.set_registered_model_tag("nope", "a", "b"),
        lambda: client.delete_registered_model_tag("nope", "a"),
    ):
        with pytest.raises(MlflowException) as unknown:
            call()
        assert code_of(unknown) == "RESOURCE_DOES_NOT_EXIST"


def test_rename_is_refused_and_changes_nothing(client: MlflowClient, reg: Path, cli: Cli, model_dir: Any) -> None:
    client.create_registered_model("churn")
    client.create_registered_model("other")
    new_version(client, "churn", model_dir(1))
    before = cli_json(cli, reg, "list")
    with pytest.raises(MlflowException) as missing:
        client.rename_registered_model("nope", "x")
    assert code_of(missing) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as taken:
        client.rename_registered_model("churn", "other")
    assert code_of(taken) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as refused:
        client.rename_registered_model("churn", "churn-v2")
    assert code_of(refused) == "FEATURE_DISABLED" and "keeps its name" in refused.value.message
    assert cli_json(cli, reg, "list") == before


def test_delete_a_model_removes_its_versions_and_hides_it(
    client: MlflowClient, reg: Path, cli: Cli, model_dir: Any
) -> None:
    client.create_registered_model("churn")
    for seed in (1, 2):
        new_version(client, "churn", model_dir(seed))
    client.set_registered_model_alias("churn", "champion", "2")
    client.delete_registered_model("churn")
    with pytest.raises(MlflowException) as gone:
        client.get_registered_model("churn")
    assert code_of(gone) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as version_gone:
        client.get_model_version("churn", "1")
    assert code_of(version_gone) == "RESOURCE_DOES_NOT_EXIST"
    assert client.search_registered_models() == [] and client.search_model_versions("name='churn'") == []
    # modelreg keeps the model and its history; both versions are removed, with who and why.
    shown = cli_json(cli, reg, "show", "churn")
    assert [v["removed"]["reason"] for v in shown["versions"]] == ["through MLflow (delete_registered_model)"] * 2
    assert shown["aliases"] == {} and shown["latest_version"] is None
    assert [e["action"] for e in cli_json(cli, reg, "log", "churn")["entries"]].count("remove") == 2
    assert cli(*("verify", "-R", reg)).exit_code == 0
    # MLflow may create it again: a fresh start for MLflow, numbering goes on in modelreg.
    again = client.create_registered_model("churn", description="back")
    assert again.description == "back" and again.tags == {} and again.latest_versions == []
    assert new_version(client, "churn", model_dir(3)).version == 3
    assert [v.version for v in client.search_model_versions("name='churn'")] == [3]


def test_search_registered_models_filters_orders_and_pages(client: MlflowClient, reg: Path, cli: Cli) -> None:
    names = ["alpha", "beta-1", "beta-2", "gamma", "delta"]
    for i, name in enumerate(names):
        client.create_registered_model(name, tags={"team": "a" if i % 2 else "b"})
    assert sorted(m.name for m in client.search_registered_models()) == sorted(names)
    assert [m["name"] for m in cli_json(cli, reg, "list")["models"]] == sorted(names)
    assert [m.name for m in client.search_registered_models("name LIKE 'beta%'", order_by=["name DESC"])] == [
        "beta-2",
        "beta-1",
    ]
    assert [m.name for m in client.search_registered_models("name ILIKE '%ETA%'", order_by=["name"])] == [
        "beta-1",
        "beta-2",
    ]
    assert {m.name for m in client.search_registered_models("tags.team = 'a'")} == {"beta-1", "gamma"}
    assert [m.name for m in client.search_registered_models("name = 'gamma'")] == ["gamma"]
    first = client.search_registered_models(max_results=2, order_by=["name ASC"])
    assert [m.name for m in first] == ["alpha", "beta-1"] and first.token
    second = client.search_registered_models(max_results=2, order_by=["name ASC"], page_token=first.token)
    third = client.search_registered_models(max_results=2, order_by=["name ASC"], page_token=second.token)
    assert [m.name for m in second] == ["beta-2", "delta"] and [m.name for m in third] == ["gamma"]
    assert third.token is None
    for kwargs in ({"max_results": 0}, {"max_results": 1001}, {"filter_string": "name =="}, {"page_token": "zz"}):
        with pytest.raises(MlflowException) as bad:
            client.search_registered_models(**kwargs)
        assert code_of(bad) == "INVALID_PARAMETER_VALUE", kwargs


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page_size=st.integers(1, 7), descending=st.booleans())
def test_pages_of_a_search_hold_every_model_once_in_order(
    client: MlflowClient, page_size: int, descending: bool
) -> None:
    if not client.search_registered_models():
        for i in range(6):
            client.create_registered_model(f"m{i}")
    order = ["name DESC" if descending else "name ASC"]
    whole = [m.name for m in client.search_registered_models(order_by=order)]
    seen: list[str] = []
    token = None
    while True:
        page = client.search_registered_models(max_results=page_size, order_by=order, page_token=token)
        assert len(page) <= page_size
        seen += [m.name for m in page]
        token = page.token
        if not token:
            break
    assert seen == whole == sorted(whole, reverse=descending) and len(whole) == 6


# -- model versions ----------------------------------------------------------------------------


def test_versions_are_numbered_and_hold_the_source_files(
    client: MlflowClient, reg: Path, cli: Cli, model_dir: Any
) -> None:
    client.create_registered_model("churn")
    made = [
        new_version(client, "churn", model_dir(seed), tags={"seed": str(seed)}, description=f"from seed {seed}")
        for seed in (1, 2, 3)
    ]
    assert [v.version for v in made] == [1, 2, 3]
    assert {v.status for v in made} == {"READY"} and {v.current_stage for v in made} == {"None"}
    for seed, v in zip((1, 2, 3), made, strict=True):
        shown = cli_json(cli, reg, "show", f"churn@{v.version}")
        assert {f["path"]: f["digest"] for f in shown["files"]} == files_of(model_dir(seed))
        assert shown["tags"] == {"seed": str(seed)} and shown["description"] == f"from seed {seed}"
        assert shown["stage"] == "development" and shown["created_by"] == v.user_id == AUTHOR
        assert v.source == str(model_dir(seed))
        assert shown["lineage"]["imported"]["source"] == str(model_dir(seed))
    with pytest.raises(MlflowException) as missing:
        new_version(client, "nope", model_dir(1))
    assert code_of(missing) == "RESOURCE_DOES_NOT_EXIST"


def test_parallel_registrations_through_one_client_take_distinct_numbers(
    client: MlflowClient, reg: Path, cli: Cli, model_dir: Any
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client.create_registered_model("churn")
    sources = [model_dir(seed) for seed in range(1, 7)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        made = list(pool.map(lambda src: new_version(client, "churn", src), sources))
    assert sorted(v.version for v in made) == [1, 2, 3, 4, 5, 6]
    for v, src in zip(made, sources, strict=True):
        shown = cli_json(cli, reg, "show", f"churn@{v.version}")
        assert {f["path"]: f["digest"] for f in shown["files"]} == files_of(src)
    assert cli(*("verify", "-R", reg)).exit_code == 0


def test_get_update_and_tag_a_version(client: MlflowClient, reg: Path, cli: Cli, model_dir: Any) -> None:
    client.create_registered_model("churn")
    new_version(client, "churn", model_dir(1), tags={"keep": "1", "drop": "2"})
    assert client.update_model_version("churn", "1", description="better").description == "better"
    client.set_model_version_tag("churn", "1", "owner", "ada")
    client.delete_model_version_tag("churn", "1", "drop")
    client.delete_model_version_tag("churn", "1", "never-set")
    got = client.get_model_version("churn", 1)
    assert got.description == "better" and got.tags == {"keep": "1", "owner": "ada"}
    shown = cli_json(cli, reg, "show", "churn@1")
    assert shown["description"] == "better" and shown["tags"] == got.tags
    # The last change MLflow shows is the newest audit entry of the version (and of the model).
    entries = cli_json(cli, reg, "log", "churn")["entries"]
    newest = max(e["time"] for e in entries if e["version"] == 1)
    assert got.last_updated_timestamp == millis(newest) > got.creation_timestamp
    assert client.get_registered_model("churn").last_updated_timestamp == millis(entries[-1]["time"])
    for version, code in (("abc", "INVALID_PARAMETER_VALUE"), ("9", "RESOURCE_DOES_NOT_EXIST")):
        with pytest.raises(MlflowException) as bad:
            client.get_model_version("churn", version)
        assert code_of(bad) == code
    with pytest.raises(MlflowException) as bad_tag:
        client.set_model_version_tag("churn", "1", "", "x")
    assert code_of(bad_tag) == "INVALID_PARAMETER_VALUE"


def test_stages_transitions_and_latest_versions(client: MlflowClient, reg: Path, cli: Cli, model_dir: Any) -> None:
    client.create_registered_model("churn")
    for seed in (1, 2, 3, 4):
        new_version(client, "churn", model_dir(seed))
    assert client.transition_model_version_stage("churn", "1", "Production").current_stage == "Production"
    client.transition_model_version_stage("churn", "2", "staging")  # any case, as in MLflow
    client.transition_model_version_stage("churn", "3", "Staging", archive_existing_versions=True)
    assert client.get_model_version("churn", "2").current_stage == "Archived"
    # Production is exclusive in modelreg: the holder leaves for Archived as its own audit entry.
    client.transition_model_version_stage("churn", "4", "Production")
    stages = {v.version: v.current_stage for v in client.search_model_versions("name='churn'")}
    assert stages == {1: "Archived", 2: "Archived", 3: "Staging", 4: "Production"}
    listed = cli_json(cli, reg, "list")["models"][0]["stages"]
    assert listed == {"development": [], "staging": [3], "production": 4, "archived": [1, 2]}
    latest = {v.current_stage: v.version for v in client.get_latest_versions("churn")}
    assert latest == {"Staging": 3, "Production": 4, "Archived": 2}
    assert [v.version for v in client.get_latest_versions("churn", ["Production"])] == [4]
    assert client.get_latest_versions("churn", ["None"]) == []
    for call in (
        lambda: client.transition_model_version_stage("churn", "1", "Shipped"),
        lambda: client.get_latest_versions("churn", ["Shipped"]),
        lambda: client.transition_model_version_stage("churn", "1", "Archived", archive_existing_versions=True),
    ):
        with pytest.raises(MlflowException) as bad:
            call()
        assert code_of(bad) == "INVALID_PARAMETER_VALUE"
    actions = [(e["action"], e["version"], e["to_stage"]) for e in cli_json(cli, reg, "log", "churn")["entries"]]
    assert ("archive", 1, "archived") in actions and ("promote", 4, "production") in actions


def test_delete_a_version_is_a_remove(client: MlflowClient, reg: Path, cli: Cli, model_dir: Any) -> None:
    client.create_registered_model("churn")
    for seed in (1, 2):
        new_version(client, "churn", model_dir(seed))
    client.set_registered_model_alias("churn", "champion", "2")
    client.delete_model_version("churn", "2")
    with pytest.raises(MlflowException) as gone:
        client.get_model_version("churn", "2")
    assert code_of(gone) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as again:
        client.delete_model_version("churn", "2")
    assert code_of(again) == "RESOURCE_DOES_NOT_EXIST"
    assert client.get_registered_model("churn").aliases == {}
    assert [v.version for v in client.search_model_versions("name='churn'")] == [1]
    shown = cli_json(cli, reg, "show", "churn@2")
    assert shown["removed"]["reason"] == "through MLflow (delete_model_version)"
    assert new_version(client, "churn", model_dir(3)).version == 3  # a number is never reused


def test_search_model_versions(client: MlflowClient, reg: Path, model_dir: Any) -> None:
    for name in ("churn", "fraud"):
        client.create_registered_model(name)
        for seed in (1, 2, 3):
            new_version(client, name, model_dir(seed), tags={"seed": str(seed)}, run_id=f"run{seed}")
    assert len(client.search_model_versions()) == 6
    found = client.search_model_versions("name = 'churn'", order_by=["version_number DESC"])
    assert [(v.name, v.version) for v in found] == [("churn", 3), ("churn", 2), ("churn", 1)]
    assert {(v.name, v.version) for v in client.search_model_versions("run_id = 'run2'")} == {
        ("churn", 2),
        ("fraud", 2),
    }
    assert {v.name for v in client.search_model_versions("tags.seed = '3' AND name = 'fraud'")} == {"fraud"}
    assert [v.version for v in client.search_model_versions("name='fraud' AND version_number >= 2")] == [3, 2]
    assert client.search_model_versions("name = 'Not A Modelreg Name'") == []
    assert {
        (v.name, v.version) for v in client.search_model_versions("run_id IN ('run1', 'run3') AND name='fraud'")
    } == {
        ("fraud", 1),
        ("fraud", 3),
    }
    assert len(client.search_model_versions("run_id LIKE 'run%'")) == 6
    assert {v.version for v in client.search_model_versions(f"source_path = '{model_dir(2)}'")} == {2}
    for bad in ("run_id IN ()", "run_id IN (1,2)", "name LIKE"):
        with pytest.raises(MlflowException) as malformed:
            client.search_model_versions(bad)
        assert code_of(malformed) == "INVALID_PARAMETER_VALUE", bad
    page = client.search_model_versions("name='churn'", max_results=2, order_by=["version_number ASC"])
    rest = client.search_model_versions(
        "name='churn'", max_results=2, order_by=["version_number ASC"], page_token=page.token
    )
    assert [v.version for v in page] + [v.version for v in rest] == [1, 2, 3] and rest.token is None
    # By default the most recently changed first, as in MLflow's stores.
    client.update_model_version("churn", "1", description="touched last")
    assert (client.search_model_versions()[0].name, client.search_model_versions()[0].version) == ("churn", 1)
    newest = client.search_registered_models(order_by=["last_updated_timestamp DESC"])[0]
    assert newest.name == "churn"
    with pytest.raises(MlflowException) as wrong_key:
        client.search_registered_models("run_id = 'run1'")
    assert code_of(wrong_key) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as bad:
        client.search_model_versions("versions.bogus = 1")
    assert code_of(bad) == "INVALID_PARAMETER_VALUE"


# -- aliases and download URIs -----------------------------------------------------------------


def test_aliases(client: MlflowClient, reg: Path, cli: Cli, model_dir: Any) -> None:
    client.create_registered_model("churn")
    for seed in (1, 2):
        new_version(client, "churn", model_dir(seed))
    client.set_registered_model_alias("churn", "champion", "1")
    client.set_registered_model_alias("churn", "champion", "2")  # moved
    client.set_registered_model_alias("churn", "challenger", "1")
    assert client.get_model_version_by_alias("churn", "champion").version == 2
    assert client.get_model_version_by_alias("churn", "latest").version == 2
    assert client.get_registered_model("churn").aliases == {"champion": 2, "challenger": 1}
    assert client.get_model_version("churn", "1").aliases == ["challenger"]
    assert cli_json(cli, reg, "alias", "churn") == {"name": "churn", "aliases": {"challenger": 1, "champion": 2}}
    client.delete_registered_model_alias("churn", "challenger")
    client.delete_registered_model_alias("churn", "challenger")  # as in MLflow: no error
    assert cli_json(cli, reg, "alias", "churn")["aliases"] == {"champion": 2}
    failures = {
        "missing alias": (lambda: client.get_model_version_by_alias("churn", "nobody"), "INVALID_PARAMETER_VALUE"),
        "reserved": (lambda: client.set_registered_model_alias("churn", "latest", "1"), "INVALID_PARAMETER_VALUE"),
        "version alias": (lambda: client.set_registered_model_alias("churn", "v1", "1"), "INVALID_PARAMETER_VALUE"),
        "a stage": (lambda: client.set_registered_model_alias("churn", "production", "1"), "INVALID_PARAMETER_VALUE"),
        "no version": (lambda: client.set_registered_model_alias("churn", "x", "9"), "RESOURCE_DOES_NOT_EXIST"),
        "no model": (lambda: client.set_registered_model_alias("nope", "x", "1"), "RESOURCE_DOES_NOT_EXIST"),
    }
    for what, (call, code) in failures.items():
        with pytest.raises(MlflowException) as bad:
            call()
        assert code_of(bad) == code, what
    assert [e["action"] for e in cli_json(cli, reg, "log", "churn")["entries"]].count("alias") == 4


def test_download_uri_and_copy_model_version(client: MlflowClient, reg: Path, cli: Cli, model_dir: Any) -> None:
    client.create_registered_model("churn")
    new_version(client, "churn", model_dir(1))
    uri = client.get_model_version_download_uri("churn", "1")
    assert uri == f"modelreg://{reg}/models/churn/versions/1"
    copied = client.copy_model_version("models:/churn/1", "churn-copy")
    assert (copied.name, copied.version) == ("churn-copy", 1)
    original, copy = cli_json(cli, reg, "show", "churn@1"), cli_json(cli, reg, "show", "churn-copy@1")
    assert copy["digest"] == original["digest"] and copy["lineage"]["imported"]["source"] == "models:/churn/1"


def test_tags_outside_modelregs_key_rule_are_refused(client: MlflowClient, reg: Path, cli: Cli) -> None:
    with pytest.raises(MlflowException) as bad:
        client.create_registered_model("churn", tags={"has space": "x"})
    assert code_of(bad) == "INVALID_PARAMETER_VALUE"
    assert cli_json(cli, reg, "list")["models"] == []


def test_the_registry_uri_forms(
    reg: Path, tmp_path: Path, tracking: str, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    monkeypatch.chdir(reg.parent)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    for uri in (f"modelreg://{reg}", f"modelreg:{reg.name}"):
        MlflowClient(registry_uri=uri).create_registered_model(f"via-{len(uri)}")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", f"modelreg://{reg}")
    MlflowClient().create_registered_model("via-env")
    monkeypatch.setenv("MODELREG_REGISTRY", str(reg))  # `modelreg:` finds it as the CLI does
    MlflowClient(registry_uri="modelreg:").create_registered_model("via-modelreg-registry")
    names = [m["name"] for m in cli_json(cli, reg, "list")["models"]]
    assert {"via-env", "via-modelreg-registry"} <= set(names) and len(names) == 4
    with pytest.raises(MlflowException) as nowhere:
        MlflowClient(registry_uri=f"modelreg://{tmp_path / 'missing'}").search_registered_models()
    assert code_of(nowhere) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as host:
        MlflowClient(registry_uri="modelreg://somehost/x").search_registered_models()
    assert code_of(host) == "INVALID_PARAMETER_VALUE"


# -- the stage mapping -------------------------------------------------------------------------

_STAGE = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)


@settings(deadline=None)
@given(
    names=st.lists(_STAGE, min_size=2, max_size=6, unique=True),
    pick=st.data(),
)
def test_the_stage_mapping_round_trips(names: list[str], pick: st.DataObject) -> None:
    default = pick.draw(st.sampled_from(names))
    archive = pick.draw(st.sampled_from([n for n in names if n != default]))
    production = pick.draw(st.sampled_from([None, *[n for n in names if n not in (default, archive)]]))
    stages = Stages(tuple(names), default, archive, production)
    shown = [stages.to_mlflow(s) for s in names]
    assert len(set(shown)) == len(names)  # two stages never look alike in MLflow
    for stage in names:
        assert stages.from_mlflow(stages.to_mlflow(stage)) == stage
    assert stages.to_mlflow(default) == "None" and stages.to_mlflow(archive) == "Archived"
    assert stages.from_mlflow("None") == default and stages.from_mlflow("ARCHIVED") == archive


def test_the_default_stages_map_to_mlflows_four() -> None:
    stages = Stages(("development", "staging", "production", "archived"), "development", "archived", "production")
    assert stages.mlflow_names() == ["None", "Staging", "Production", "Archived"]
    assert stages.from_mlflow("Shipped") is None


@pytest.fixture(autouse=True)
def _no_global_mlflow_uris() -> Iterator[None]:
    yield
    mlflow.set_registry_uri(None)  # type: ignore[arg-type]


def test_custom_stages_through_mlflow(reg: Path, tracking: str, cli: Cli, model_dir: Any) -> None:
    """A registry's own stages keep their names in MLflow; its roles keep MLflow's names."""
    toml = reg / "modelreg.toml"
    text = toml.read_text()
    toml.write_text(
        text.replace('    "staging",\n    "production",', '    "canary",\n    "live",')
        .replace('    "production",\n]', '    "live",\n]')
        .replace('production = "production"', 'production = "live"')
    )
    client = MlflowClient(tracking_uri=tracking, registry_uri=f"modelreg://{reg}")
    client.create_registered_model("churn")
    for seed in (1, 2):
        new_version(client, "churn", model_dir(seed))
    assert client.transition_model_version_stage("churn", "1", "canary").current_stage == "canary"
    assert client.transition_model_version_stage("churn", "2", "Production").current_stage == "Production"
    assert cli_json(cli, reg, "show", "churn@2")["stage"] == "live"
    assert cli_json(cli, reg, "show", "churn@1")["stage"] == "canary"
    assert [v.version for v in client.get_latest_versions("churn", ["CANARY"])] == [1]
    assert {v.current_stage for v in client.get_latest_versions("churn")} == {"canary", "Production"}
    with pytest.raises(MlflowException) as unknown:
        client.transition_model_version_stage("churn", "1", "Staging")  # this registry has none
    assert code_of(unknown) == "INVALID_PARAMETER_VALUE" and "canary" in unknown.value.message


_KEYS = ("owner", "team")
_VALUES = ("ada", "bo", "cy")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tags=st.lists(st.dictionaries(st.sampled_from(_KEYS), st.sampled_from(_VALUES)), min_size=5, max_size=5),
    key=st.sampled_from(_KEYS),
    value=st.sampled_from(_VALUES),
    floor=st.integers(1, 5),
)
def test_mlflows_filters_and_modelregs_where_select_the_same_versions(
    client: MlflowClient, reg: Path, cli: Cli, model_dir: Any, tags: list[dict[str, str]], key: str, value: str,
    floor: int,
) -> None:  # fmt: skip
    if not client.search_registered_models("name = 'churn'"):
        client.create_registered_model("churn")
        for seed in range(1, 6):
            new_version(client, "churn", model_dir(seed))
    for number, wanted in enumerate(tags, start=1):
        for k in _KEYS:  # this example's tags, set through MLflow
            if k in wanted:
                client.set_model_version_tag("churn", str(number), k, wanted[k])
            else:
                client.delete_model_version_tag("churn", str(number), k)
    found = client.search_model_versions(f"name = 'churn' AND tags.{key} = '{value}' AND version_number >= {floor}")
    where = cli_json(cli, reg, "list", "churn", "--where", f"tags.{key}={value}")["versions"]
    assert {v.version for v in found} == {v["version"] for v in where if v["version"] >= floor}
    assert {v.version for v in found} == {n for n, t in enumerate(tags, start=1) if t.get(key) == value and n >= floor}


@settings(deadline=None)
@given(st.text(max_size=300))
def test_the_plugin_and_import_mlflow_make_the_same_key_of_an_mlflow_metric(text: str) -> None:
    assert key(text) == imported_key(text)
