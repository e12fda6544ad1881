#!/usr/bin/env bash
# The main job: init a registry, register two versions, promote one, ask for production.
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
modelreg init registry
export MODELREG_REGISTRY="$work/registry"
printf 'weights v1' > model.bin
modelreg register lead_scoring model.bin --metric accuracy=0.80 --description "first model"
printf 'weights v2' > model.bin
modelreg register lead_scoring model.bin --metric accuracy=0.85 --dataset s3://data/leads-2026-11
modelreg promote lead_scoring@2 production --reason "best accuracy"
modelreg get-production lead_scoring --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
assert v["version"] == 2 and v["stage"] == "production", v
print("production is %s@%d (%s...) at %s" % (v["name"], v["version"], v["digest"][:19], v["path"]))'
test "$(cat "$(modelreg get-production lead_scoring --path)/model.bin")" = "weights v2"
modelreg verify
echo "round trip OK"
