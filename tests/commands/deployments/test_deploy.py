"""deploy, undeploy and deployed: what runs where, the environment's rules, the history as the
truth (verify, time travel with the real clock), hooks as real processes, and git merges."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.governance import add_policy, audit, json_error, refused, register
from support.results import ok_doc as ok

from modelreg import Registry

TRUSTED = {"MODELREG_TRUST": "1"}


@pytest.fixture
def reg(reg_path: Path) -> Registry:
    return Registry(reg_path)


def deploy(cli: Any, reg: Registry, ref: str, env: str, *extra: str) -> dict[str, Any]:
    data: dict[str, Any] = ok(cli("deploy", ref, "--env", env, "--json", "-R", reg.root, *extra))
    return data


def test_deploy_records_the_version_a_file_and_an_audit_entry(cli: Any, reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path)
    register(reg, tmp_path)
    first = deploy(cli, reg, "churn@1", "prod-eu", "--reason", "first rollout")
    assert first["changed"] is True and first["previous"] is None
    assert (first["env"], first["model"], first["version"]) == ("prod-eu", "churn", 1)
    assert first["digest"] == reg.resolve("churn@1").digest and first["by"] == "test-author"
    second = deploy(cli, reg, "churn@latest", "prod-eu")
    assert second["previous"] == 1 and second["version"] == 2
    entries = [e for e in audit(reg.root) if e["action"] == "deploy"]
    assert [(e["version"], e["env"], e["previous"]) for e in entries] == [(1, "prod-eu", None), (2, "prod-eu", 1)]
    assert entries[0]["reason"] == "first rollout" and entries[1]["digest"] == second["digest"]
    assert second["since"] == entries[1]["time"]
    text = (reg.root / "models" / "churn" / "deployments.yaml").read_text()
    assert "prod-eu:" in text and "version: 2" in text
    # The same version again changes nothing: no entry, same since.
    again = deploy(cli, reg, "churn@2", "prod-eu")
    assert again["changed"] is False and again["since"] == second["since"]
    assert len([e for e in audit(reg.root) if e["action"] == "deploy"]) == 2


def test_an_environment_serves_many_models_and_a_model_many_environments(
    cli: Any, reg: Registry, tmp_path: Path
) -> None:
    register(reg, tmp_path, "churn")
    register(reg, tmp_path, "fraud")
    deploy(cli, reg, "churn@1", "prod-eu")
    deploy(cli, reg, "churn@1", "prod-us")
    deploy(cli, reg, "fraud@1", "prod-eu")
    rows = ok(cli("deployed", "--json", "-R", reg.root))["deployments"]
    assert [(r["env"], r["model"], r["version"]) for r in rows] == [
        ("prod-eu", "churn", 1),
        ("prod-eu", "fraud", 1),
        ("prod-us", "churn", 1),
    ]
    assert set(rows[0]) == {"env", "model", "version", "digest", "since", "by"}
    only_eu = ok(cli("deployed", "--env", "prod-eu", "--json", "-R", reg.root))["deployments"]
    assert {r["model"] for r in only_eu} == {"churn", "fraud"}
    only_fraud = ok(cli("deployed", "--model", "fraud", "--json", "-R", reg.root))["deployments"]
    assert [(r["env"], r["model"]) for r in only_fraud] == [("prod-eu", "fraud")]


def test_undeploy_takes_the_model_out_and_is_not_found_when_it_was_not_there(
    cli: Any, reg: Registry, tmp_path: Path
) -> None:
    register(reg, tmp_path)
    deploy(cli, reg, "churn@1", "prod-eu")
    out = ok(cli("undeploy", "churn", "--env", "prod-eu", "--json", "-R", reg.root))
    assert out == {"env": "prod-eu", "model": "churn", "version": 1, "changed": True, "hooks": []}
    assert ok(cli("deployed", "--json", "-R", reg.root)) == {"at": None, "deployments": []}
    assert audit(reg.root)[-1]["action"] == "undeploy" and audit(reg.root)[-1]["env"] == "prod-eu"
    line = refused(cli("undeploy", "churn", "--env", "prod-eu", "-R", reg.root), 3)
    assert "not deployed in 'prod-eu'" in line
    assert "0 problems" in ok(cli("verify", "-R", reg.root)) or ok(cli("verify", "--json", "-R", reg.root))


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["deploy", "churn@1", "--env", "Prod EU"], 2),
        (["deploy", "churn@9", "--env", "prod-eu"], 3),
        (["deploy", "nosuch@1", "--env", "prod-eu"], 3),
        (["deploy", "churn@@", "--env", "prod-eu"], 2),
        (["undeploy", "nosuch", "--env", "prod-eu"], 3),
        (["deployed", "--at", "yesterday-ish"], 2),
        (["deployed", "--model", "nosuch"], 3),
        (["deployed", "--env", "-bad-"], 2),
    ],
)
def test_bad_input_is_refused_with_its_exit_code_and_nothing_changes(
    cli: Any, reg: Registry, tmp_path: Path, tree_snapshot: Any, args: list[str], code: int
) -> None:
    register(reg, tmp_path)
    before = tree_snapshot(reg.root, ignore=[".modelreg"])
    result = cli(*args, "--json", "-R", reg.root)
    refused(result, code)
    assert "Traceback" not in result.stderr
    assert json_error(result)["code"]
    assert tree_snapshot(reg.root, ignore=[".modelreg"]) == before


def test_an_environment_rule_refuses_a_version_outside_its_stage_with_nothing_changed(
    cli: Any, reg: Registry, tmp_path: Path, tree_snapshot: Any
) -> None:
    add_policy(reg.root, '[environments.prod-eu]\nstage = "production"')
    register(reg, tmp_path)
    register(reg, tmp_path)
    reg = Registry(reg.root)
    before = tree_snapshot(reg.root, ignore=[".modelreg"])
    result = cli("deploy", "churn@1", "--env", "prod-eu", "--json", "-R", reg.root)
    line = refused(result, 4)
    assert "prod-eu" in line and "'production'" in line and "development" in line
    error = json_error(result)
    assert error["code"] == "policy" and error["failed"][0]["rule"] == "environments.prod-eu.stage = production"
    assert tree_snapshot(reg.root, ignore=[".modelreg"]) == before
    # Another environment has no rule; once promoted, prod-eu takes it.
    deploy(cli, reg, "churn@1", "staging-eu")
    ok(cli("promote", "churn@1", "production", "-R", reg.root))
    assert deploy(cli, reg, "churn@production", "prod-eu")["version"] == 1


def test_a_removed_version_is_never_deployed(cli: Any, reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path)
    ok(cli("remove", "churn@1", "--reason", "recall", "-R", reg.root))
    assert "removed" in refused(cli("deploy", "churn@1", "--env", "prod-eu", "-R", reg.root), 4)


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        ('[environments.prod-eu]\nstage = "productoin"', "stages.names"),
        ('[environments.prod-eu]\nstgae = "production"', "unknown key 'stgae'"),
        ('[environments."Prod EU"]\nstage = "production"', "invalid environment name"),
        ("[environments]\nprod-eu = 3", "must be a table"),
    ],
)
def test_a_mistake_in_the_environment_rules_is_a_clear_config_error(
    cli: Any, reg: Registry, table: str, needle: str
) -> None:
    add_policy(reg.root, table)
    result = cli("deployed", "-R", reg.root)
    assert needle in refused(result, 2)


def test_deployed_at_any_moment_is_replayed_from_the_history(cli: Any, reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path, "churn")
    register(reg, tmp_path, "churn")
    register(reg, tmp_path, "fraud")
    before_any = ok(cli("log", "churn", "--json", "-R", reg.root))["entries"][-1]["time"]
    one = deploy(cli, reg, "churn@1", "prod-eu")
    fraud = deploy(cli, reg, "fraud@1", "prod-eu")
    two = deploy(cli, reg, "churn@2", "prod-eu")
    gone = ok(cli("undeploy", "fraud", "--env", "prod-eu", "--json", "-R", reg.root))
    assert gone["changed"] is True
    undeployed_at = audit(reg.root)[-1]["time"]
    assert before_any < one["since"] < fraud["since"] < two["since"] < undeployed_at

    def at(moment: str, *extra: str) -> list[tuple[str, int, str]]:
        rows = ok(cli("deployed", "--at", moment, "--json", "-R", reg.root, *extra))["deployments"]
        return [(r["model"], r["version"], r["since"]) for r in rows]

    assert at(before_any) == []
    assert at(one["since"]) == [("churn", 1, one["since"])]
    assert at(fraud["since"]) == [("churn", 1, one["since"]), ("fraud", 1, fraud["since"])]
    assert at(two["since"]) == [("churn", 2, two["since"]), ("fraud", 1, fraud["since"])]
    assert at(undeployed_at) == [("churn", 2, two["since"])]
    assert at(two["since"], "--model", "fraud") == [("fraud", 1, fraud["since"])]
    # A relative time and a day: "now" and the end of today (UTC) see the current state.
    assert at("0s") == at(undeployed_at) == at(undeployed_at[:10])
    # "--at" answers the same in a real process.
    proc = subprocess.run(
        [sys.executable, "-m", "modelreg", "deployed", "--at", fraud["since"], "--json", "-R", str(reg.root)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["at"] == fraud["since"]


def test_verify_replays_deployments_and_a_hand_edited_file_exits_5(
    cli: Any, run: Any, reg: Registry, tmp_path: Path
) -> None:
    register(reg, tmp_path)
    register(reg, tmp_path)
    deploy(cli, reg, "churn@1", "prod-eu")
    assert run("verify", "-R", reg.root).returncode == 0
    path = reg.root / "models" / "churn" / "deployments.yaml"
    good = path.read_text()
    path.write_text(good.replace("    version: 1", "    version: 2"))
    proc = run("verify", "-R", reg.root)
    assert proc.returncode == 5
    assert "prod-eu serves version 2" in proc.stdout + proc.stderr
    # An environment added by hand, or the whole file deleted, is seen too.
    path.write_text(
        good.replace("deployments:\n", "deployments:\n  shadow:\n    version: 1\n    since: x\n    by: y\n")
    )
    assert run("verify", "-R", reg.root).returncode == 5
    path.unlink()
    proc = run("verify", "-R", reg.root)
    assert proc.returncode == 5 and "serves nothing of churn by the files" in proc.stdout + proc.stderr
    path.write_text("format_version: 1\nname: churn\ndeployments: [1]\n")
    assert run("verify", "-R", reg.root).returncode == 5
    assert run("deployed", "-R", reg.root).returncode == 5
    path.write_text(good)
    assert run("verify", "-R", reg.root).returncode == 0


def test_deploy_and_undeploy_run_their_hooks_as_real_processes(cli: Any, reg: Registry, tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    script = tmp_path / "hook.py"
    script.write_text(
        "import json, os, sys\n"
        "doc = json.load(sys.stdin)\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('MODELREG_')}\n"
        f"open({str(out)!r}, 'a').write(json.dumps({{'doc': doc, 'env': env}}) + '\\n')\n"
        "sys.exit(3 if doc['event'] == 'undeploy' else 0)\n"
    )
    hook = f"{sys.executable} {script}"
    add_policy(reg.root, f'[hooks]\ndeploy = ["{hook}"]\nundeploy = ["{hook}"]')
    register(reg, tmp_path)
    data = ok(cli("deploy", "churn@1", "--env", "prod-eu", "--json", "-R", reg.root, env=TRUSTED))
    assert data["hooks"] == [{"event": "deploy", "command": hook, "exit_code": 0}]
    result = cli("undeploy", "churn", "--env", "prod-eu", "--json", "-R", reg.root, env=TRUSTED)
    assert result.exit_code == 0  # a failing hook undoes nothing
    assert json.loads(result.stdout)["hooks"][0]["exit_code"] == 3
    assert "exited 3" in result.stderr
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["doc"]["event"] for r in runs] == ["deploy", "undeploy"]
    assert runs[0]["env"]["MODELREG_ENV"] == "prod-eu" and runs[0]["env"]["MODELREG_EVENT"] == "deploy"
    assert runs[0]["doc"]["entry"]["id"] == audit(reg.root)[-2]["id"]
    assert runs[0]["doc"]["version"]["version"] == 1
    # Untrusted: the change is made, the hooks are skipped with a warning.
    result = cli("deploy", "churn@1", "--env", "prod-us", "-R", reg.root)
    assert result.exit_code == 0 and "not run" in result.stderr
    assert len(out.read_text().splitlines()) == 2


def test_the_library_returns_results_that_carry_hooks_and_json(reg: Registry, tmp_path: Path) -> None:
    register(reg, tmp_path)
    result = reg.deploy("churn@1", "prod-eu", reason="canary")
    assert result.to_json()["version"] == 1 and result.hooks == [] and result.warnings == []
    assert reg.deployed().to_json()["deployments"][0]["env"] == "prod-eu"
    assert reg.undeploy("churn", "prod-eu").to_json()["changed"] is True


def _git(cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_two_branches_deploying_different_models_merge_cleanly_and_verify(
    cli: Any, run: Any, reg: Registry, tmp_path: Path
) -> None:
    register(reg, tmp_path, "churn")
    register(reg, tmp_path, "fraud")
    root = reg.root
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "registry")
    _git(root, "checkout", "-qb", "eu")
    deploy(cli, reg, "churn@1", "prod-eu")
    _git(root, "commit", "-qam", "deploy churn")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "deploy churn (new files)")
    _git(root, "checkout", "-q", "main")
    _git(root, "checkout", "-qb", "us")
    deploy(cli, reg, "fraud@1", "prod-us")
    ok(cli("observe", "fraud@1", "--metric", "accuracy=0.91", "-R", root))
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "deploy fraud")
    _git(root, "checkout", "-q", "eu")
    ok(cli("observe", "churn@1", "--metric", "accuracy=0.88", "-R", root))
    _git(root, "commit", "-qam", "observe churn")
    _git(root, "merge", "-q", "--no-edit", "us")  # fails the test on a conflict
    assert run("verify", "-R", root).returncode == 0
    rows = ok(cli("deployed", "--json", "-R", root))["deployments"]
    assert [(r["env"], r["model"]) for r in rows] == [("prod-eu", "churn"), ("prod-us", "fraud")]
    assert {(e["model"], e["action"]) for e in audit(root) if e["action"] == "observe"} == {
        ("churn", "observe"),
        ("fraud", "observe"),
    }
    # The next change joins the two branches' heads, and the history still tells the same story.
    deploy(cli, reg, "churn@1", "prod-us")
    assert run("verify", "-R", root).returncode == 0


def test_tab_completes_environments_that_have_rules_or_deployments(reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, '[environments.prod-eu]\nstage = "production"')
    register(reg, tmp_path)
    Registry(reg.root).deploy("churn@1", "staging-us")
    env = {
        **os.environ,
        "COMP_WORDS": "modelreg deployed --env ",
        "COMP_CWORD": "3",
        "_MODELREG_COMPLETE": "complete_bash",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "modelreg"], env=env, cwd=reg.root, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["prod-eu", "staging-us"]
    env["COMP_WORDS"], env["COMP_CWORD"] = "modelreg deploy churn@1 --env st", "4"
    proc = subprocess.run(
        [sys.executable, "-m", "modelreg"], env=env, cwd=reg.root, capture_output=True, text=True, check=False
    )
    assert proc.stdout.split() == ["staging-us"]


DEPLOY_STEPS = st.lists(
    st.tuples(
        st.sampled_from(["deploy", "undeploy"]),
        st.sampled_from(["a", "b"]),
        st.integers(1, 3),
        st.sampled_from(["eu", "us"]),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=DEPLOY_STEPS)
def test_any_sequence_of_deploys_replays_to_the_files_at_every_moment(steps: list[tuple[str, str, int, str]]) -> None:
    """A model of deploy/undeploy against the registry: now, at each step's moment, and verify."""
    import tempfile

    from modelreg.errors import NotFoundError

    with tempfile.TemporaryDirectory() as tmp:
        reg, _ = Registry.init(Path(tmp) / "reg")
        weights = Path(tmp) / "w.bin"
        for model in ("a", "b"):
            for n in range(1, 4):
                weights.write_text(f"{model} {n}")
                reg.register(model, [weights])
        model_state: dict[tuple[str, str], int] = {}
        moments: list[tuple[str, dict[tuple[str, str], int]]] = []
        for action, model, version, env in steps:
            if action == "deploy":
                if not reg.deploy(f"{model}@{version}", env).changed:
                    assert model_state[(env, model)] == version  # the same version again: no entry
                    continue
                model_state[(env, model)] = version
            else:
                try:
                    reg.undeploy(model, env)
                except NotFoundError:
                    assert (env, model) not in model_state
                    continue
                del model_state[(env, model)]
            moments.append((reg.history(model)[-1]["time"], dict(model_state)))
        now = {(r.env, r.model): r.version for r in reg.deployed().deployments}
        assert now == model_state
        for moment, expected in moments:
            then = {(r.env, r.model): r.version for r in reg.deployed(at=moment).deployments}
            assert then == expected, moment
        from modelreg.ops.verify.run import verify

        report = verify(reg)
        assert report.ok, [f.message for f in report.findings]


@pytest.mark.parametrize("point", ["after-journal", "mid-apply", "after-audit"])
def test_a_deploy_killed_part_way_is_finished_by_the_next_command(
    run: Any, reg: Registry, tmp_path: Path, point: str
) -> None:
    register(reg, tmp_path)
    proc = run("deploy", "churn@1", "--env", "prod-eu", "-R", reg.root, env={"MODELREG_TEST_CRASH_AT": point})
    assert proc.returncode == 137  # died as a kill -9 would, at that point
    # verify finishes the journaled change first: the file and the history then agree.
    check = run("verify", "-R", reg.root)
    assert check.returncode == 0, check.stdout + check.stderr
    rows = json.loads(run("deployed", "--json", "-R", reg.root).stdout)["deployments"]
    assert [(r["env"], r["version"]) for r in rows] == [("prod-eu", 1)]
    assert [e["action"] for e in audit(reg.root)].count("deploy") == 1
