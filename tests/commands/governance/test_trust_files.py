"""Trust covers what the registry's commands run, not only their text: a ``git pull`` that changes
a script a check names makes it untrusted until ``trust``, and ``trust --show`` says what changed;
``MODELREG_TRUST=1`` never reaches the commands it lets run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from support.governance import add_policy

PY = sys.executable


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def script(marker: Path, label: str) -> str:
    return f"import pathlib\npathlib.Path({str(marker)!r}).write_text({label!r})\n"


def test_a_pulled_change_to_a_check_script_is_untrusted_until_trust(run: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    mine = tmp_path / "mine"
    git(tmp_path, "clone", "-q", str(origin), str(mine))
    assert run("init", mine).returncode == 0
    add_policy(mine, f'[gates.staging]\ncheck = ["{PY} checks/fairness.py"]')
    (mine / "checks").mkdir()
    (mine / "checks" / "fairness.py").write_text(script(marker, "reviewed"))
    (mine / "model.bin").write_text("weights")
    assert run("register", "churn", mine / "model.bin", "-R", mine).returncode == 0
    git(mine, "add", "-A")
    git(mine, "commit", "-qm", "registry")
    git(mine, "push", "-q", "origin", "HEAD")
    assert run("trust", "-R", mine).returncode == 0
    assert run("check", "churn@1", "staging", "-R", mine).returncode == 0
    assert marker.read_text() == "reviewed"
    marker.unlink()

    theirs = tmp_path / "theirs"
    git(tmp_path, "clone", "-q", str(origin), str(theirs))
    (theirs / "checks" / "fairness.py").write_text(script(marker, "pulled"))
    git(theirs, "commit", "-qam", "a new check")
    git(theirs, "push", "-q", "origin", "HEAD")
    git(mine, "pull", "-q", "--ff-only")

    done = run("promote", "churn@1", "staging", "-R", mine)
    assert done.returncode == 4 and "modelreg trust" in done.stderr
    forced = run("promote", "churn@1", "staging", "--force", "-R", mine)
    assert forced.returncode == 4
    assert not marker.exists()

    shown = run("trust", "--show", "--json", "-R", mine)
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    assert status["trusted"] is False and status["changes"] == ["file checks/fairness.py: changed"]
    human = run("trust", "--show", "-R", mine)
    assert "since trusted: file checks/fairness.py: changed" in human.stdout

    assert run("trust", "-R", mine).returncode == 0
    assert run("promote", "churn@1", "staging", "-R", mine).returncode == 0
    assert marker.read_text() == "pulled"


def test_a_directory_a_command_names_is_covered_whole(run: Any, reg_path: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran.txt"
    tools = reg_path / "tools"
    (tools / "lib").mkdir(parents=True)
    (tools / "main.py").write_text("import sys; sys.path.insert(0, 'tools/lib'); import helper\n")
    (tools / "lib" / "helper.py").write_text(script(marker, "reviewed"))
    add_policy(reg_path, f'[hooks]\nannotate = ["PYTHONPATH=tools {PY} tools/main.py"]')
    (tmp_path / "m.bin").write_text("w")
    assert run("register", "churn", tmp_path / "m.bin", "-R", reg_path).returncode == 0
    assert run("trust", "-R", reg_path).returncode == 0
    (tools / "lib" / "helper.py").write_text(script(marker, "changed"))
    done = run("annotate", "churn", "-d", "x", "-R", reg_path)
    assert done.returncode == 0 and "not run" in done.stderr
    assert not marker.exists()
    shown = json.loads(run("trust", "--show", "--json", "-R", reg_path).stdout)
    assert shown["changes"] == ["file tools/lib/helper.py: changed"]


def test_a_link_out_of_the_registry_is_recorded_not_followed(run: Any, reg_path: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("print('a')\n")
    (reg_path / "checks").mkdir()
    (reg_path / "checks" / "run.py").symlink_to(outside)
    add_policy(reg_path, f'[hooks]\nannotate = ["{PY} checks/run.py"]')
    assert run("trust", "-R", reg_path).returncode == 0
    shown = json.loads(run("trust", "--show", "--json", "-R", reg_path).stdout)
    assert shown["files"] == {"checks/run.py": f"link: {outside}"}
    outside.write_text("print('b')\n")  # outside the registry: this machine's own file
    assert json.loads(run("trust", "--show", "--json", "-R", reg_path).stdout)["trusted"] is True
    (reg_path / "checks" / "run.py").unlink()
    (reg_path / "checks" / "run.py").symlink_to(tmp_path / "other.py")
    assert json.loads(run("trust", "--show", "--json", "-R", reg_path).stdout)["trusted"] is False


def test_modelreg_trust_never_reaches_a_hook(run: Any, reg_path: Path, tmp_path: Path) -> None:
    seen = tmp_path / "env.txt"
    other_marker = tmp_path / "other-hook-ran"
    other = tmp_path / "other"
    assert run("init", other).returncode == 0
    add_policy(other, f'[hooks]\nannotate = ["touch {other_marker}"]')
    (tmp_path / "m.bin").write_text("w")
    assert run("register", "churn", tmp_path / "m.bin", "-R", other).returncode == 0
    add_policy(
        reg_path,
        f'[hooks]\nannotate = ["echo trust=${{MODELREG_TRUST:-unset}} > {seen}; '
        f'{PY} -m modelreg annotate churn -d from-a-hook -R {other}"]',
    )
    assert run("register", "churn", tmp_path / "m.bin", "-R", reg_path).returncode == 0
    done = run("annotate", "churn", "-d", "x", "-R", reg_path, env={"MODELREG_TRUST": "1"})
    assert done.returncode == 0, done.stderr
    assert seen.read_text().strip() == "trust=unset"
    assert not other_marker.exists()  # the other registry's commands stayed untrusted
    shown = run("show", "churn", "--json", "-R", other)
    assert json.loads(shown.stdout)["description"] == "from-a-hook"  # the hook itself did run


def test_a_record_that_covered_command_lines_only_is_trusted_again(run: Any, reg_path: Path, tmp_path: Path) -> None:
    from modelreg import Registry

    add_policy(reg_path, f'[hooks]\nannotate = ["{PY} hooks/notify.py"]')
    (reg_path / "hooks").mkdir()
    (reg_path / "hooks" / "notify.py").write_text("print('hi')\n")
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "modelreg"
    config.mkdir(parents=True, exist_ok=True)
    policy = Registry(reg_path).config.policy
    entry = {"digest": policy.commands_digest(), "commands": policy.commands()}  # as trust wrote it before
    record = {"format_version": 1, "registries": {str(reg_path.resolve()): entry}}
    (config / "trust.json").write_text(json.dumps(record))
    shown = json.loads(run("trust", "--show", "--json", "-R", reg_path).stdout)
    assert shown["trusted"] is False
    assert shown["changes"] == [
        "trusted before the record covered the registry files the commands name (hooks/notify.py)"
    ]
    assert run("trust", "-R", reg_path).returncode == 0
    assert json.loads(run("trust", "--show", "--json", "-R", reg_path).stdout)["trusted"] is True
