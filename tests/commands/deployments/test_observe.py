"""observe: production measurements as a time series per version, apart from training metrics;
show lists the latest reading of each metric, list --where/--sort compares it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.governance import audit, refused, register
from support.results import ok_doc as ok

from modelreg import Registry


@pytest.fixture
def reg(reg_path: Path) -> Registry:
    return Registry(reg_path)


def observe(cli: Any, reg: Registry, ref: str, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = ok(cli("observe", ref, *args, "--json", "-R", reg.root))
    return data


def test_an_observation_is_an_audit_entry_apart_from_the_training_metrics(
    cli: Any, reg: Registry, tmp_path: Path
) -> None:
    register(reg, tmp_path, metrics={"accuracy": 0.95})
    data = observe(cli, reg, "churn@1", "--metric", "accuracy=0.81", "-m", "latency_ms=12", "--env", "prod-eu")
    assert data["metrics"] == {"accuracy": 0.81, "latency_ms": 12} and data["env"] == "prod-eu"
    entry = audit(reg.root)[-1]
    assert entry["action"] == "observe" and entry["version"] == 1 and entry["observed_at"] == data["observed_at"]
    assert entry["metrics"] == {"accuracy": 0.81, "latency_ms": 12}
    shown = ok(cli("show", "churn@1", "--json", "-R", reg.root))
    assert shown["metrics"] == {"accuracy": 0.95}  # training metrics untouched
    assert shown["observed"]["accuracy"] == {"value": 0.81, "at": data["observed_at"], "env": "prod-eu"}
    assert ok(cli("log", "churn", "--action", "observe", "--json", "-R", reg.root))["entries"][0]["metrics"]
    assert ok(cli("verify", "-R", reg.root))


def test_show_gives_the_latest_reading_by_measurement_time(cli: Any, reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path)
    now = observe(cli, reg, "churn@1", "-m", "accuracy=0.9")
    # Recorded later, measured earlier (a backfill): it is not the latest reading.
    observe(cli, reg, "churn@1", "-m", "accuracy=0.5", "-m", "drift=0.3", "--at", "2d")
    observed = ok(cli("show", "churn@1", "--json", "-R", reg.root))["observed"]
    assert observed["accuracy"]["value"] == 0.9 and observed["accuracy"]["at"] == now["observed_at"]
    assert observed["drift"]["value"] == 0.3
    text = cli("show", "churn@1", "-R", reg.root).stdout
    assert "observed in production" in text and "drift" in text


def test_list_where_and_sort_compare_the_latest_observed_reading(cli: Any, reg: Registry, tmp_path: Path) -> None:
    for _ in range(4):
        register(reg, tmp_path)
    observe(cli, reg, "churn@1", "-m", "accuracy=0.9", "--at", "3d")
    observe(cli, reg, "churn@1", "-m", "accuracy=0.7")  # has degraded since
    observe(cli, reg, "churn@2", "-m", "accuracy=0.85")
    observe(cli, reg, "churn@3", "-m", "accuracy=0.6", "--at", "1h")

    def versions(*args: str) -> list[int]:
        return [v["version"] for v in ok(cli("list", "churn", *args, "--json", "-R", reg.root))["versions"]]

    assert versions("--where", "observed.accuracy<0.8") == [1, 3]
    assert versions("--where", "observed.accuracy>=0.8") == [2]
    assert versions("--where", "observed.latency<1") == []  # never observed: no match
    assert versions("--sort", "-observed.accuracy") == [2, 1, 3, 4]  # the unobserved come last


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["churn@1"], 2),  # no metric
        (["churn@1", "-m", "accuracy=high"], 2),
        (["churn@1", "-m", "accuracy=nan"], 2),
        (["churn@1", "-m", "bad key=1"], 2),
        (["churn@1", "-m", "accuracy=1", "--at", "last tuesday"], 2),
        (["churn@1", "-m", "accuracy=1", "--env", "Prod"], 2),
        (["churn@7", "-m", "accuracy=1"], 3),
        (["nosuch@1", "-m", "accuracy=1"], 3),
    ],
)
def test_bad_observations_are_refused_and_record_nothing(
    cli: Any, reg: Registry, tmp_path: Path, args: list[str], code: int
) -> None:
    register(reg, tmp_path)
    before = (reg.root / "audit.jsonl").read_bytes()
    refused(cli("observe", *args, "-R", reg.root), code)
    assert (reg.root / "audit.jsonl").read_bytes() == before


def test_ill_formed_observe_entries_from_elsewhere_are_skipped(reg: Registry, tmp_path: Path) -> None:
    """An observe entry is read back defensively: a hand-made one with odd values counts for nothing."""
    register(reg, tmp_path)
    reg.observe("churn@1", {"accuracy": "0.8"}, env="prod-eu")
    hostile = [
        {"metrics": {"accuracy": "0.1"}},
        {"metrics": {"accuracy": True}},
        {"metrics": {"../x": 0.1}},
        {"metrics": {"accuracy": 0.1}, "env": "../../etc"},
        {"metrics": {"accuracy": 0.1}, "observed_at": 5},
        {"metrics": []},
    ]
    from modelreg.ops.changes import record

    for extra in hostile:
        fields: dict[str, Any] = {"observed_at": "2999-01-01T00:00:00.000000Z", **extra}
        reg.audit.append([record("observe", "churn", 1, **fields)])
    latest = reg.latest_observed("churn")[1]
    assert json.dumps({k: r.to_json() for k, r in latest.items()}) == json.dumps(
        {"accuracy": {"value": 0.8, "at": latest["accuracy"].at, "env": "prod-eu"}}
    )
