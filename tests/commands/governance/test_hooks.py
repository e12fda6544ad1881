"""Issue 13: hooks and gate check commands as real subprocesses: what they receive, what a failure
does, timeouts, and that neither runs under the model lock (a command may call modelreg)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.governance import add_policy, audit, refused, register
from support.procs import modelreg_cmd, start
from support.results import ok_doc as ok

from modelreg import Registry

TRUSTED = {"MODELREG_TRUST": "1"}
PY = sys.executable


@pytest.fixture
def reg(reg_path: Path) -> Registry:
    return Registry(reg_path)


def hook_script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def test_a_hook_gets_the_entry_and_the_version_on_stdin_and_the_event_in_its_environment(
    cli: Any, reg: Registry, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"
    script = hook_script(
        tmp_path,
        "record.py",
        "import json, os, sys\n"
        "doc = json.load(sys.stdin)\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith('MODELREG_')}\n"
        f"open({str(out)!r}, 'a').write(json.dumps({{'doc': doc, 'env': env, 'cwd': os.getcwd()}}) + '\\n')\n",
    )
    add_policy(reg.root, f'[hooks]\npromote = ["{PY} {script}"]\narchive = ["{PY} {script}"]')
    register(reg, tmp_path)
    register(reg, tmp_path)
    ok(cli("promote", "churn@1", "production", "-R", reg.root, env=TRUSTED))
    data = ok(cli("promote", "churn@2", "production", "--reason", "better", "--json", "-R", reg.root, env=TRUSTED))
    assert [(h["event"], h["exit_code"]) for h in data["hooks"]] == [("archive", 0), ("promote", 0)]
    runs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["doc"]["event"] for r in runs] == ["promote", "archive", "promote"]
    last = runs[-1]
    entry = last["doc"]["entry"]
    assert entry["action"] == "promote" and entry["version"] == 2 and entry["reason"] == "better"
    assert entry["id"] == audit(reg.root)[-1]["id"]  # the durable entry, as logged
    assert last["doc"]["version"]["stage"] == "production" and last["doc"]["version"]["version"] == 2
    assert last["env"]["MODELREG_EVENT"] == "promote"
    assert last["env"]["MODELREG_MODEL"] == "churn" and last["env"]["MODELREG_VERSION"] == "2"
    assert last["env"]["MODELREG_FROM_STAGE"] == "development" and last["env"]["MODELREG_TO_STAGE"] == "production"
    assert last["env"]["MODELREG_ACTOR"] == "test-author"
    assert Path(last["cwd"]).resolve() == reg.root.resolve()
    archived = runs[1]
    assert archived["doc"]["version"]["version"] == 1 and archived["env"]["MODELREG_TO_STAGE"] == "archived"


def test_every_event_runs_its_hooks(cli: Any, reg: Registry, tmp_path: Path) -> None:
    log = tmp_path / "events.txt"
    events = ["register", "promote", "archive", "alias", "annotate", "request", "approve", "reject", "remove"]
    lines = "\n".join(f'{e} = ["echo $MODELREG_EVENT $MODELREG_VERSION >> {log}"]' for e in events)
    add_policy(reg.root, f"[gates.staging]\napprovals = 1\n[hooks]\n{lines}")
    model = tmp_path / "m.bin"
    model.write_text("w")
    root = reg.root
    ok(cli("register", "churn", model, "-R", root, env=TRUSTED))
    ok(cli("register", "churn", model, "-R", root, env=TRUSTED))
    ok(cli("promote", "churn@1", "production", "-R", root, env=TRUSTED))
    ok(cli("promote", "churn@2", "production", "-R", root, env=TRUSTED))
    ok(cli("annotate", "churn@2", "-d", "now described", "-R", root, env=TRUSTED))
    ok(cli("alias", "churn@2", "champion", "-R", root, env=TRUSTED))
    first = ok(cli("request", "churn@1", "staging", "--reason", "r", "--json", "-R", root, env=TRUSTED))["id"]
    ok(cli("reject", first, "--reason", "no", "--author", "bob", "-R", root, env=TRUSTED))
    second = ok(cli("request", "churn@1", "staging", "--reason", "r", "--json", "-R", root, env=TRUSTED))["id"]
    ok(cli("approve", second, "--author", "bob", "-R", root, env=TRUSTED))
    ok(cli("remove", "churn@1", "--reason", "recall", "-R", root, env=TRUSTED))
    assert log.read_text().split("\n")[:-1] == [
        "register 1",
        "register 2",
        "promote 1",
        "archive 1",
        "promote 2",
        "annotate 2",
        "alias 2",
        "request 1",
        "reject 1",
        "request 1",
        "approve 1",
        "promote 1",
        "remove 1",
    ]


def test_a_failing_hook_undoes_nothing(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, '[hooks]\npromote = ["echo the chat server is down >&2; exit 7", "true"]')
    register(reg, tmp_path)
    result = cli("promote", "churn@1", "production", "--json", "-R", reg.root, env=TRUSTED)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["stage"] == "production"
    assert [(h["command"], h["exit_code"]) for h in data["hooks"]] == [
        ("echo the chat server is down >&2; exit 7", 7),
        ("true", 0),
    ]
    assert (
        "hook 'echo the chat server is down >&2; exit 7' for promote exited 7: the chat server is down" in result.stderr
    )
    assert Registry(reg.root).resolve("churn@production").version == 1


def test_a_hook_that_calls_modelreg_on_the_same_model_does_not_deadlock(
    run: Any, reg: Registry, tmp_path: Path
) -> None:
    add_policy(
        reg.root,
        f'[hooks]\npromote = ["{PY} -m modelreg annotate $MODELREG_MODEL@$MODELREG_VERSION -t promoted=yes"]',
    )
    register(reg, tmp_path)
    env = {**TRUSTED, "MODELREG_LOCK_TIMEOUT": "3"}
    started = time.monotonic()
    proc = run("promote", "churn@1", "production", "--json", "-R", reg.root, env=env)
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 30
    assert json.loads(proc.stdout)["hooks"][0]["exit_code"] == 0, proc.stderr
    assert Registry(reg.root).resolve("churn@1").tags == {"promoted": "yes"}


def test_a_slow_hook_blocks_no_other_writer(reg: Registry, tmp_path: Path) -> None:
    started = tmp_path / "hook-started"
    add_policy(reg.root, f'[hooks]\npromote = ["touch {started}; sleep 20"]')
    register(reg, tmp_path)
    slow = start(modelreg_cmd("promote", "churn@1", "production", "-R", reg.root), env=TRUSTED)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert time.monotonic() < deadline and slow.poll() is None, slow.communicate()
            time.sleep(0.05)
        # The promotion is durable and its lock released while its hook still runs.
        assert Registry(reg.root).resolve("churn@1").stage == "production"
        other = subprocess.run(
            modelreg_cmd("annotate", "churn@1", "-t", "k=v", "-R", reg.root),
            env={**_env(), "MODELREG_LOCK_TIMEOUT": "2"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert other.returncode == 0, other.stderr
        assert slow.poll() is None  # the hook is still sleeping
    finally:
        slow.kill()
        slow.communicate()


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)


def test_a_hook_is_killed_at_its_timeout(cli: Any, reg: Registry, tmp_path: Path) -> None:
    survivor = tmp_path / "survived"
    add_policy(reg.root, f'[hooks]\ntimeout_seconds = 1\npromote = ["sleep 30; touch {survivor}"]')
    register(reg, tmp_path)
    started = time.monotonic()
    result = cli("promote", "churn@1", "production", "--json", "-R", reg.root, env=TRUSTED)
    assert result.exit_code == 0 and time.monotonic() - started < 15
    assert json.loads(result.stdout)["hooks"][0]["exit_code"] is None
    assert "timed out" in result.stderr
    time.sleep(0.5)
    assert not survivor.exists()


def test_hooks_that_trigger_themselves_stop(cli: Any, reg: Registry, tmp_path: Path) -> None:
    log = tmp_path / "depth.txt"
    add_policy(
        reg.root,
        f'[hooks]\nannotate = ["echo $MODELREG_HOOK_DEPTH >> {log}; '
        f'{PY} -m modelreg annotate churn -d x$MODELREG_HOOK_DEPTH"]',
    )
    register(reg, tmp_path)
    ok(cli("trust", "-R", reg.root))  # trusted on this machine: MODELREG_TRUST never reaches a hook
    ok(cli("annotate", "churn", "-d", "start", "-R", reg.root))
    assert log.read_text().split() == ["1", "2", "3"]


# -- gate check commands -------------------------------------------------------------------------------


def test_a_check_gets_the_version_on_stdin_and_its_last_stderr_line_is_the_detail(
    cli: Any, reg: Registry, tmp_path: Path
) -> None:
    script = hook_script(
        tmp_path,
        "check.py",
        "import json, os, sys\n"
        "v = json.load(sys.stdin)\n"
        "print('looking at', v['name'], v['version'], file=sys.stderr)\n"
        "assert os.environ['MODELREG_TO_STAGE'] == 'production'\n"
        "ok = v['metrics']['fairness'] >= 0.8\n"
        "print(f\"fairness {v['metrics']['fairness']} {'ok' if ok else 'too low'}\", file=sys.stderr)\n"
        "sys.exit(0 if ok else 1)\n",
    )
    add_policy(reg.root, f'[gates.production]\ncheck = ["{PY} {script}"]')
    register(reg, tmp_path, metrics={"fairness": 0.5})
    register(reg, tmp_path, metrics={"fairness": 0.9})
    result = cli("check", "churn@1", "production", "--json", "-R", reg.root, env=TRUSTED)
    assert result.exit_code == 4
    assert json.loads(result.stdout)["checks"] == [
        {"rule": f"check: {PY} {script}", "passed": False, "detail": "fairness 0.5 too low"}
    ]
    assert "fairness 0.5 too low" in refused(cli("promote", "churn@1", "production", "-R", reg.root, env=TRUSTED))
    data = ok(cli("promote", "churn@2", "production", "--json", "-R", reg.root, env=TRUSTED))
    assert data["stage"] == "production"


def test_an_untrusted_check_refuses_the_promotion_naming_trust(cli: Any, reg: Registry, tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    add_policy(reg.root, f'[gates.production]\ncheck = ["touch {ran}"]')
    register(reg, tmp_path)
    line = refused(cli("promote", "churn@1", "production", "-R", reg.root))
    assert "not trusted" in line and "modelreg trust" in line
    assert not ran.exists()
    ok(cli("promote", "churn@1", "production", "-R", reg.root, env=TRUSTED))
    assert ran.exists()


def test_a_check_that_calls_modelreg_on_the_same_model_does_not_deadlock(
    run: Any, reg: Registry, tmp_path: Path
) -> None:
    # The check writes to the model (its description): it would wait for the model lock forever,
    # or here for 3 s, if the promotion held it while checks run.
    add_policy(reg.root, f'[gates.production]\ncheck = ["{PY} -m modelreg annotate churn -d checked-$$"]')
    register(reg, tmp_path)
    proc = run("promote", "churn@1", "production", "-R", reg.root, env={**TRUSTED, "MODELREG_LOCK_TIMEOUT": "3"})
    assert proc.returncode == 0, proc.stderr
    assert Registry(reg.root).state("churn").index.description.startswith("checked-")


def test_a_change_made_while_the_checks_ran_is_noticed_and_checked_again(
    run: Any, reg: Registry, tmp_path: Path
) -> None:
    # The first time, the check moves the stage's holder (another promotion) while it runs; the
    # promotion must not go ahead on that answer: it evaluates again, and the check runs again.
    counter = tmp_path / "runs"
    script = hook_script(
        tmp_path,
        "racy.py",
        "import pathlib, subprocess, sys\n"
        f"c = pathlib.Path({str(counter)!r})\n"
        "n = int(c.read_text()) if c.exists() else 0\n"
        "c.write_text(str(n + 1))\n"
        "if n == 0:\n"
        "    cmd = [sys.executable, '-m', 'modelreg', 'annotate', 'churn@2', '-t', 'owner=eve']\n"
        "    subprocess.run(cmd, check=True)\n",
    )
    add_policy(reg.root, f'[gates.production]\nrequire = ["tag:owner"]\ncheck = ["{PY} {script}"]')
    register(reg, tmp_path, tags={"owner": "ada"})
    register(reg, tmp_path, tags={"owner": "ada"})
    proc = run("promote", "churn@2", "production", "-R", reg.root, env=TRUSTED)
    assert proc.returncode == 0, proc.stderr
    assert counter.read_text() == "2"
    assert Registry(reg.root).resolve("churn@2").tags == {"owner": "eve"}


def test_a_check_is_killed_at_its_timeout(cli: Any, reg: Registry, tmp_path: Path) -> None:
    add_policy(reg.root, '[gates.production]\ncheck = ["sleep 30"]\ncheck_timeout_seconds = 1')
    register(reg, tmp_path)
    started = time.monotonic()
    line = refused(cli("promote", "churn@1", "production", "-R", reg.root, env=TRUSTED))
    assert "check: sleep 30 (timed out after 1s)" in line and time.monotonic() - started < 15
