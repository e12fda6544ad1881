"""How long ``modelreg report`` takes on a big registry (issue 16): 1,000 models, 100,000 versions.

The registry is written in modelreg's on-disk format by ``bench.write_history`` (as the flatness
benchmark builds its histories; registering 100,000 versions one by one would take half an hour),
then every tenth model gets a production holder and an alias through the library, so the stage
columns, timelines and alias links have something to show. The build is not timed. Each timed run
is a fresh ``modelreg report --json`` process; the first writes a new directory, the others replace
the previous report. ``verify --quick`` is timed once beside it: the report runs it too.

    python benchmarks/report.py                                # 1,000 x 100, 3 runs
    python benchmarks/report.py --models 100 --versions 50     # a quick look
    python benchmarks/report.py --workdir /tmp/rb --keep       # keep the registry (built once) and the site
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # the sibling module: write_history, Runner


def build(root: Path, models: int, versions: int, runner: bench.Runner) -> None:
    runner.run("init", root, "--json")
    start = time.perf_counter()
    for i in range(models):
        bench.write_history(root, f"model-{i:04d}", versions)
    bench.log(f"wrote {models} models x {versions} versions in {time.perf_counter() - start:.0f} s")
    code = (
        "import sys; from pathlib import Path; from modelreg import Registry\n"
        "reg = Registry.open(Path(sys.argv[1]))\n"
        "for i in range(0, int(sys.argv[2]), 10):\n"
        "    name = f'model-{i:04d}'\n"
        "    reg.promote(f'{name}@{sys.argv[3]}', 'production', reason='benchmark', actor='bench')\n"
        "    reg.alias(f'{name}@1', 'baseline', actor='bench')\n"
    )
    runner.py(code, str(root), str(models), str(versions))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=100, help="versions per model")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--modelreg", type=Path, default=None, help="the modelreg console script (default: PATH)")
    parser.add_argument("--workdir", type=Path, default=None, help="reuse/keep the registry here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()

    exe = (args.modelreg or Path(shutil.which("modelreg") or "modelreg")).absolute()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="modelreg-report-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    runner = bench.Runner(exe, work)
    root = work / f"registry-{args.models}x{args.versions}"
    if not (root / "modelreg.toml").is_file():
        build(root, args.models, args.versions, runner)
    site = work / "site"
    shutil.rmtree(site, ignore_errors=True)
    load_before = os.getloadavg()
    times = []
    for i in range(args.runs):
        seconds, out = runner.json("report", "-R", root, "--output", site)
        expected = {"path": str(site), "models": args.models, "versions": args.models * args.versions}
        if out != expected:
            raise bench.BenchError(f"report printed {out}, expected {expected}")
        times.append(seconds)
        bench.log(f"report run {i + 1}: {seconds:.1f} s")
    verify_seconds, verdict = runner.json("verify", "--quick", "-R", root)
    files = [p for p in site.rglob("*") if p.is_file()]
    result = {
        "models": args.models,
        "versions": args.models * args.versions,
        "report_seconds": {"median": statistics.median(times), "runs": [round(t, 2) for t in times]},
        "verify_quick_seconds": round(verify_seconds, 2),
        "verify_ok": verdict["ok"],
        "site_files": len(files),
        "site_bytes": sum(p.stat().st_size for p in files),
        "index_bytes": (site / "index.html").stat().st_size,
        "largest_page_bytes": max(p.stat().st_size for p in files),
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if not args.keep and args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
