#!/usr/bin/env bash
# A team's promotion flow end to end, under examples/governance/modelreg.toml:
# register in CI -> staging -> a request -> two approvals -> production; a candidate the gates
# refuse; `check` as a pull request would run it; a recall (`remove`) and a rollback.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export XDG_CONFIG_HOME="$work/config"   # this machine's trust record, apart for the demo
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
git init -q -b main models && cd models
git config user.name Ada && git config user.email ada@example.com
modelreg -q init registry
cp "$here/governance/modelreg.toml" registry/
cp -r "$here/governance/checks" "$here/governance/hooks" registry/
printf 'out/\n' > .gitignore
git add -A && git commit -qm "registry and its policy"
export MODELREG_REGISTRY="$PWD/registry" NOTIFY_FILE="$work/notifications.txt"

# The commands in modelreg.toml came through git: nothing runs until this machine trusts them.
modelreg trust

# Training runs in CI: the lineage records the commit and the run (GitHub Actions, simulated).
train() {  # train VERSION ACCURACY AUC GROUP_A GROUP_B
    mkdir -p out && printf 'weights %s\n' "$1" > out/model.bin && printf '# churn %s\n' "$1" > out/MODEL_CARD.md
    GITHUB_ACTIONS=true GITHUB_REPOSITORY=team/models GITHUB_RUN_ID="$1" \
        modelreg -q register churn out/ --author ci -d "churn model $1" -t owner=ada \
        -m accuracy="$2" -m auc="$3" -m accuracy_group_a="$4" -m accuracy_group_b="$5"
}
train 1 0.91 0.88 0.92 0.90
MODELREG_AUTHOR=ada modelreg promote churn@1 staging

# Production needs two approvals: a plain promote is refused and says what to run.
if MODELREG_AUTHOR=ada modelreg promote churn@1 production --reason "first churn model"; then exit 1; fi
id=$(MODELREG_AUTHOR=ada modelreg request churn@1 production --reason "first churn model" --json |
     python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
git add -A && git commit -qm "request: churn@1 to production"   # the pull request reviewers see
modelreg approve "$id" --author bob --reason "model card read"
if modelreg check churn@1 production; then exit 1; fi           # 1 of 2 approvals: not yet
modelreg approve "$id" --author carol                           # the second approval promotes it
test "$(modelreg get-production churn --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')" = 1

# A candidate with a worse AUC and a fairness gap: the gates refuse it, naming every failed rule.
train 2 0.93 0.80 0.97 0.85
MODELREG_AUTHOR=ada modelreg promote churn@2 staging
if MODELREG_TRUST=1 modelreg check churn@2 production --json > "$work/check.json"; then exit 1; fi  # CI on a PR
python3 - "$work/check.json" <<'EOF'
import json, sys
failed = [c["rule"] for c in json.load(open(sys.argv[1]))["checks"] if not c["passed"]]
assert failed == ["auc >= current", "check: python3 checks/fairness.py --max-gap 0.05"], failed
EOF
if MODELREG_AUTHOR=ada modelreg request churn@2 production --reason "more accurate"; then exit 1; fi

# A better candidate goes through; the one it replaces is archived.
train 3 0.94 0.91 0.95 0.93
MODELREG_AUTHOR=ada modelreg promote churn@3 staging
id=$(MODELREG_AUTHOR=ada modelreg request churn@3 production --reason "better on every group" --json |
     python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
modelreg approve "$id" --author bob && modelreg approve "$id" --author carol

# A recall: version 3 was trained on data the team must delete. It leaves production for good,
# and the rollback brings back the version that held production before it (exempt from the gates).
modelreg remove churn@3 --reason "trained on records under a deletion request"
MODELREG_AUTHOR=ada modelreg rollback churn --reason "recall of churn@3"
test "$(modelreg get-production churn --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')" = 1
modelreg show churn@3 --json | python3 -c 'import json, sys; v = json.load(sys.stdin); assert v["stage"] is None and v["removed"]'

modelreg log churn --action request --action approve --action remove
modelreg verify
cat "$NOTIFY_FILE"
echo "governance flow OK"
