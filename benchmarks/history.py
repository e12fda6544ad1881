"""A model's history costs what that model's history costs (issue 14).

Two registries hold the same model ``churn`` with the same 20 audit entries (12 registers,
4 promotions and their 2 archives, 2 alias moves). One also holds 100,000 entries of 1,000 other
models, appended to its audit log hash-linked as modelreg writes them (only the entries: the
other models' manifests play no part in reading churn's history, and writing 100,000 of them
takes minutes). Timed as fresh processes,
interleaved, after one untimed warm-up run each (which builds the per-model history view):

    log churn --json
    show churn@production~1 --json
    show churn@champion@{<a moment in its history>}~1 --json

and each figure's ratio, big registry over small. The ratio should be close to 1.

    python benchmarks/history.py [--runs 7] [--others 1000 --per-other 100] [--modelreg PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ACTOR, Runner, _entry_id, _last_audit_id, interleaved, log  # the sibling module

_BUILD_CHURN = """
import json, sys
from pathlib import Path
from modelreg import Registry
root, payload = Path(sys.argv[1]), Path(sys.argv[2])
reg = Registry.open(root)
for v in range(1, 13):
    (payload / "model.bin").write_bytes(f"churn weights {v}\\n".encode() * 64)
    reg.register("churn", [payload / "model.bin"], metrics={"auc": 0.8 + v / 100}, author="bench", cwd=payload)
for v in (3, 5, 8):
    reg.promote(f"churn@{v}", "production", actor="bench")
reg.promote("churn@10", "staging", actor="bench")
reg.alias("churn@8", "champion", actor="bench")
reg.alias("churn@12", "champion", actor="bench")
print(json.dumps([e["time"] for e in reg.history("churn")]))
"""


def other_entries(root: Path, models: int, per_model: int) -> None:
    """``models`` x ``per_model`` register entries of other models, hash-linked, round-robin."""
    head = _last_audit_id(root / "audit.jsonl")
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    lines = []
    for n in range(1, per_model + 1):
        for i in range(models):
            body = {
                "time": now,
                "actor": ACTOR,
                "action": "register",
                "model": f"other-{i:04d}",
                "version": n,
                "from_stage": None,
                "to_stage": "development",
                "reason": None,
                "digest": "sha256:" + hashlib.sha256(f"{i}/{n}".encode()).hexdigest(),
                "txn": os.urandom(12).hex(),
                "prev": [head],
            }
            head = _entry_id(body)
            lines.append(json.dumps({"id": head, **body}, separators=(",", ":")) + "\n")
    with open(root / "audit.jsonl", "a", encoding="utf-8") as fh:
        fh.write("".join(lines))


def build(runner: Runner, root: Path, others: int, per_other: int) -> str:
    """A registry with churn's 20 entries (after ``others`` x ``per_other`` entries of others);
    returns the time of churn's last promotion, for the time reference."""
    runner.run("init", root, "--quiet")
    other_entries(root, others, per_other)
    payload = root.parent / f"{root.name}-payload"
    payload.mkdir()
    _, out = runner.py(_BUILD_CHURN, str(root), str(payload))
    times = json.loads(out)
    assert len(times) == 20, f"churn has {len(times)} entries, not 20"
    return str(times[-1])  # after the second alias move: champion@{T}~1 is version 8


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--others", type=int, default=1000)
    parser.add_argument("--per-other", type=int, default=100)
    parser.add_argument("--modelreg", type=Path, default=Path(shutil.which("modelreg") or "modelreg"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelreg-history-"))
    try:
        runner = Runner(args.modelreg, work)
        log(f"building the big registry ({args.others * args.per_other:,} entries of other models)")
        moment_big = build(runner, work / "big", args.others, args.per_other)
        log("building the small registry")
        moment_small = build(runner, work / "small", 0, 0)
        commands = {
            "log churn --json": lambda root, _m: ("log", "churn", "--json", "-R", root),
            "show churn@production~1 --json": lambda root, _m: ("show", "churn@production~1", "--json", "-R", root),
            "show churn@champion@{T}~1 --json": lambda root, m: (
                "show",
                f"churn@champion@{{{m}}}~1",
                "--json",
                "-R",
                root,
            ),
        }
        moments = {"big": moment_big, "small": moment_small}
        fns = {}
        for label, make in commands.items():
            for which in ("big", "small"):
                argv = make(work / which, moments[which])
                runner.run(*argv)  # warm-up: builds the history view, fills the page cache
                fns[f"{label} [{which}]"] = lambda argv=argv: runner.run(*argv)[0]
        results = interleaved(fns, args.runs)
        print(f"{'command':40} {'small':>9} {'big':>9} {'ratio':>7}")
        for label in commands:
            small, big = results[f"{label} [small]"]["median"], results[f"{label} [big]"]["median"]
            print(f"{label:40} {small * 1000:7.0f}ms {big * 1000:7.0f}ms {big / small:7.2f}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
