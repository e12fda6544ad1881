"""Deployments and predictions: `which ID` and `deployed --at` cost what one model's history
costs, and `identity()` answers a big served copy from its stamp.

Part 1. Two registries hold the same model ``churn``: 12 versions registered through the
library, deployed to prod-eu and prod-us seven times and observed five times (24 entries). One also
holds 100,000 entries of 1,000 other models (register entries with their digests, hash-linked as
modelreg writes them), so the digest index has 100,000 digests to look through. Timed as fresh
processes of the console script, interleaved, after one untimed warm-up each (which builds the
history view and its digest index), then the same questions through the library in one
process (``Registry(root).history``, ``.which``, ``.deployed(at=)``: the median of --calls calls,
interleaved), which a loaded machine disturbs far less than process start-ups:

    log churn --json                      the reference: one model's history
    which ID --json                       ID minted while churn@5 ran in prod-eu
    deployed --at T --json                every environment at a moment
    deployed --model churn --at T --json

and each figure's ratio, big registry over small; flat means close to 1.

Part 2. A 1 GiB random file registered, its served copy built (``get --path``), then
``modelreg.serving.identity(path)`` timed in one process (the median of --calls calls, after a
first call) and as a fresh ``python -c`` against ``python -c 'import modelreg.serving'``. The
target is 50 ms for a call. Needs about 2.5 GiB free (the store and the copy); --skip-big skips it.

    python benchmarks/deployments.py [--runs 7] [--others 1000 --per-other 100] [--skip-big] [--modelreg PATH]

A ``PYTHONPATH`` set when it starts is passed on to the timed processes (to time a checkout
with an installed console script).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import ACTOR, Runner, _entry_id, _last_audit_id, interleaved, log  # the sibling module

_BUILD_CHURN = """
import json, sys
from pathlib import Path
from modelreg import Registry
from modelreg.serving import prediction_id
root, payload = Path(sys.argv[1]), Path(sys.argv[2])
reg = Registry.open(root)
for v in range(1, 13):
    (payload / "model.bin").write_bytes(f"churn weights {v}\\n".encode() * 64)
    reg.register("churn", [payload / "model.bin"], author="bench", cwd=payload)
for v, env in ((3, "prod-eu"), (3, "prod-us"), (5, "prod-eu")):
    reg.deploy(f"churn@{v}", env, actor="bench")
pid = prediction_id(reg.resolve("churn@5").digest)
moment = reg.history("churn")[-1]["time"]
for v, env in ((8, "prod-eu"), (8, "prod-us"), (12, "prod-eu"), (12, "prod-us")):
    reg.deploy(f"churn@{v}", env, actor="bench")
for k in range(5):
    reg.observe("churn@12", {"accuracy": 0.9 - k / 100}, env="prod-eu", actor="bench")
print(json.dumps({"id": pid, "moment": moment, "entries": len(reg.history("churn"))}))
"""

_IN_PROCESS = """
import json, statistics, sys, time
from modelreg import Registry
small, big, m_small, m_big, calls = sys.argv[1], sys.argv[2], sys.argv[4], sys.argv[5], int(sys.argv[6])
ids = {"small": sys.argv[3], "big": sys.argv[7]}
roots = {"small": small, "big": big}
moments = {"small": m_small, "big": m_big}
asks = {
    "log churn": lambda w: Registry(roots[w]).history("churn"),
    "which ID": lambda w: Registry(roots[w]).which(ids[w]),
    "deployed --at T": lambda w: Registry(roots[w]).deployed(at=moments[w]),
}
times = {(a, w): [] for a in asks for w in roots}
for a in asks:
    for w in roots:
        asks[a](w)
for _ in range(calls):
    for a in asks:
        for w in roots:
            start = time.perf_counter(); asks[a](w); times[(a, w)].append(time.perf_counter() - start)
print(json.dumps({f"{a} [{w}]": statistics.median(t) for (a, w), t in times.items()}))
"""

_IDENTITY = """
import json, statistics, sys, time
from modelreg.serving import identity
path, calls = sys.argv[1], int(sys.argv[2])
first = time.perf_counter(); found = identity(path); first = time.perf_counter() - first
times = []
for _ in range(calls):
    start = time.perf_counter(); identity(path); times.append(time.perf_counter() - start)
print(json.dumps({"first": first, "median": statistics.median(times), "version": found.version}))
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


def build(runner: Runner, root: Path, others: int, per_other: int) -> dict[str, str]:
    runner.run("init", root, "--quiet")
    other_entries(root, others, per_other)
    payload = root.parent / f"{root.name}-payload"
    payload.mkdir()
    _, out = runner.py(_BUILD_CHURN, str(root), str(payload))
    built: dict[str, str] = json.loads(out)
    return built


def flat(runner: Runner, work: Path, args: argparse.Namespace) -> None:
    log(f"building the big registry ({args.others * args.per_other:,} entries of other models)")
    big = build(runner, work / "big", args.others, args.per_other)
    log("building the small registry")
    small = build(runner, work / "small", 0, 0)
    built = {"big": big, "small": small}
    commands = {
        "log churn --json": lambda root, b: ("log", "churn", "--json", "-R", root),
        "which ID --json": lambda root, b: ("which", b["id"], "--json", "-R", root),
        "deployed --at T --json": lambda root, b: ("deployed", "--at", b["moment"], "--json", "-R", root),
        "deployed --model churn --at T --json": lambda root, b: (
            "deployed",
            "--model",
            "churn",
            "--at",
            b["moment"],
            "--json",
            "-R",
            root,
        ),
    }
    fns = {}
    for label, make in commands.items():
        for which in ("big", "small"):
            argv = make(work / which, built[which])
            _, proc = runner.run(*argv)  # warm-up: builds the history view, fills the page cache
            if label.startswith("which"):
                answer = json.loads(proc.stdout)
                assert (answer["version"], answer["environments"]) == (5, ["prod-eu"]), answer
            if label.startswith("deployed"):
                rows = json.loads(proc.stdout)["deployments"]
                assert [(r["env"], r["version"]) for r in rows] == [("prod-eu", 5), ("prod-us", 3)], rows
            fns[f"{label} [{which}]"] = lambda argv=argv: runner.run(*argv)[0]
    _, out = runner.py(
        _IN_PROCESS,
        str(work / "small"),
        str(work / "big"),
        small["id"],
        small["moment"],
        big["moment"],
        str(args.calls),
        big["id"],
    )
    inside = json.loads(out)
    results = interleaved(fns, args.runs)
    print(f"churn: {big['entries']} entries; the big registry adds {args.others * args.per_other:,} of other models")
    print(f"{'command':40} {'small':>9} {'big':>9} {'ratio':>7}")
    for label in commands:
        s, b = results[f"{label} [small]"]["median"], results[f"{label} [big]"]["median"]
        print(f"{label:40} {s * 1000:7.0f}ms {b * 1000:7.0f}ms {b / s:7.2f}")
    print(f"the same questions through the library, in one process (median of {args.calls} calls each):")
    for label in ("log churn", "which ID", "deployed --at T"):
        s, b = inside[f"{label} [small]"], inside[f"{label} [big]"]
        print(f"{label:40} {s * 1000:7.2f}ms {b * 1000:7.2f}ms {b / s:7.2f}")


def big_copy(runner: Runner, work: Path, args: argparse.Namespace) -> None:
    if shutil.disk_usage(work).free < (5 << 29):
        print("identity(): skipped, less than 2.5 GiB free")
        return
    root = work / "gib"
    runner.run("init", root, "--quiet")
    data = work / "gib-payload" / "weights.bin"
    data.parent.mkdir()
    log("writing 1 GiB of random bytes and registering it")
    with open(data, "wb") as fh:
        for _ in range(1024):
            fh.write(os.urandom(1 << 20))
    runner.run("register", "big", data, "-R", root, "--quiet")
    data.unlink()
    _, proc = runner.run("get", "big", "--path", "-R", root)
    path = proc.stdout.decode().strip()
    log("timing identity() on the served copy")
    _, out = runner.py(_IDENTITY, path, str(args.calls))
    inside = json.loads(out)
    fresh, floor = [], []
    for _ in range(args.runs):
        fresh.append(runner.py("import sys; from modelreg.serving import identity; identity(sys.argv[1])", path)[0])
        floor.append(runner.py("import modelreg.serving")[0])
    print(
        f"identity() of a 1 GiB served copy (stamp valid): {inside['median'] * 1000:.1f} ms a call "
        f"(median of {args.calls}; first call {inside['first'] * 1000:.1f} ms); target 50 ms"
    )
    f, i = statistics.median(fresh), statistics.median(floor)
    print(f"fresh process: identity {f * 1000:.0f} ms, import modelreg.serving alone {i * 1000:.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--others", type=int, default=1000)
    parser.add_argument("--per-other", type=int, default=100)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--modelreg", type=Path, default=Path(shutil.which("modelreg") or "modelreg"))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelreg-deployments-"))
    started = time.perf_counter()
    try:
        runner = Runner(args.modelreg, work)
        if os.environ.get("PYTHONPATH"):  # timing a checkout over an installed modelreg: keep it first
            runner.env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        flat(runner, work, args)
        if not args.skip_big:
            big_copy(runner, work, args)
        log(f"done in {time.perf_counter() - started:.0f}s")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
