"""A training job that hands its model to modelreg through the library alone.

It trains a small linear model (ordinary least squares, standard library only), registers the
model file with its metrics and parameters, checks the gates of the stage it aims at, requests
the promotion when that stage needs approvals (or promotes when it needs none) and pushes the
version's files to the registry's remote store. It ends with one JSON line on stdout saying what
it did, and exits with modelreg's exit code when modelreg refuses.

    python examples/train_and_register.py REGISTRY [--name NAME] [--stage production] [--seed N]

The registry is created when REGISTRY holds none. A team's registry already says where its
remote is and what production needs, in modelreg.toml, for example:

    [remote]
    url = "/mnt/shared/models"

    [gates.production]
    metrics = ["r2 >= 0.9"]
    approvals = 1
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

from modelreg import ModelregError, NotFoundError, Registry


def make_data(seed: int, count: int = 400) -> list[tuple[float, float]]:
    """y = 3x + 2 with some noise: what the model should learn."""
    rng = random.Random(seed)
    points = []
    for _ in range(count):
        x = rng.uniform(-5, 5)
        points.append((x, 3 * x + 2 + rng.gauss(0, 0.5)))
    return points


def fit(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Slope and intercept by ordinary least squares."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    return slope, mean_y - slope * mean_x


def evaluate(model: tuple[float, float], points: list[tuple[float, float]]) -> dict[str, float]:
    slope, intercept = model
    errors = [y - (slope * x + intercept) for x, y in points]
    mean_y = sum(y for _, y in points) / len(points)
    total = sum((y - mean_y) ** 2 for _, y in points)
    mse = sum(e * e for e in errors) / len(points)
    return {"mse": round(mse, 6), "r2": round(1 - sum(e * e for e in errors) / total, 6)}


def train(out: Path, seed: int) -> tuple[dict[str, float], dict[str, str]]:
    """Train, then write the model and its card into ``out``; returns the metrics and parameters."""
    points = make_data(seed)
    cut = int(len(points) * 0.8)
    slope, intercept = fit(points[:cut])
    metrics = evaluate((slope, intercept), points[cut:])
    params = {"seed": str(seed), "train_rows": str(cut), "method": "ols"}
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.json").write_text(json.dumps({"slope": slope, "intercept": intercept}, indent=2) + "\n")
    (out / "MODEL_CARD.md").write_text(
        f"# Linear model\n\ny = {slope:.4f} x + {intercept:.4f}, held-out r2 {metrics['r2']}\n"
    )
    return metrics, params


def open_registry(path: Path) -> Registry:
    try:
        return Registry.open(path)
    except NotFoundError:
        registry, _ = Registry.init(path)
        return registry


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("registry", type=Path)
    parser.add_argument("--name", default="demand")
    parser.add_argument("--stage", default="production", help="the stage this model aims at")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    try:
        registry = open_registry(args.registry)
        with tempfile.TemporaryDirectory() as work:
            metrics, params = train(Path(work) / "model", args.seed)
            registered = registry.register(
                args.name,
                Path(work) / "model",
                metrics=metrics,
                params=params,
                tags={"owner": "forecasting"},
                description="Demand as a linear function of price",
            )
        version = registered.version
        ref = f"{version.name}@{version.version}"
        for warning in registered.warnings:
            print(f"modelreg: {warning}", file=sys.stderr)

        # The gates first: a model that fails them is not worth a reviewer's time.
        evaluation = registry.check(ref, args.stage)
        for rule in evaluation.checks:
            print(f"{'pass' if rule.passed else 'FAIL'}  {rule.rule}: {rule.detail}", file=sys.stderr)
        outcome: dict[str, object] = {"version": version.to_json(), "stage": args.stage}
        if not evaluation.gates_ok:
            raise evaluation.refusal(f"moving {ref} to {args.stage}")
        if evaluation.required:
            filed = registry.request(ref, args.stage, reason=f"trained with seed {args.seed}: r2 {metrics['r2']}")
            outcome["request"] = filed.to_json()
        else:
            outcome["promoted"] = registry.promote(ref, args.stage, reason="passed its gates").to_json()

        # Where the serving side and the other clones fetch the bytes from.
        outcome["push"] = registry.push(ref).to_json()
    except ModelregError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    print(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
