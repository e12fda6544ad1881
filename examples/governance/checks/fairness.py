"""Gate check: the accuracy of every population group is within --max-gap of the best group.

modelreg runs it in the registry directory with the version object as JSON on stdin; exit 0
passes, any other exit fails the gate, and the last line on stderr becomes the rule's detail.
The groups are the metrics named accuracy_group_<name> (register --metric accuracy_group_a=0.93 ...).
"""

import argparse
import json
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-gap", type=float, default=0.05)
    args = parser.parse_args()
    version = json.load(sys.stdin)
    prefix = "accuracy_group_"
    groups = {k.removeprefix(prefix): v for k, v in version["metrics"].items() if k.startswith(prefix)}
    if len(groups) < 2:
        print("no per-group accuracy (accuracy_group_<name> metrics): cannot judge fairness", file=sys.stderr)
        return 1
    best, worst = max(groups, key=groups.get), min(groups, key=groups.get)
    gap = groups[best] - groups[worst]
    verdict = "ok" if gap <= args.max_gap else "too wide"
    print(f"accuracy gap {gap:.3f} between {best} and {worst}: {verdict} (max {args.max_gap})", file=sys.stderr)
    return 0 if gap <= args.max_gap else 1


if __name__ == "__main__":
    sys.exit(main())
