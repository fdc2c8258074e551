#!/usr/bin/env bash
# Issue 11's end-to-end check: for every supported family, build a tiny random checkpoint offline
# and train it with the default recipe (NumberLine, VL-DAC) for 512 environment steps.
# Usage: benchmarks/families_smoke.sh [WORKDIR] [families...]   (exit 1 when any family failed)
set -uo pipefail
workdir="${1:-$(mktemp -d)}"
shift || true
families=("$@")
[ ${#families[@]} -eq 0 ] && families=(qwen2_vl qwen2_5_vl qwen3_vl gemma3 idefics3 llava_onevision internvl)
mkdir -p "$workdir" && cd "$workdir"
failed=0
for family in "${families[@]}"; do
    rm -rf "tiny-$family"
    start=$(date +%s)
    if vldac tiny-model "$family" "tiny-$family" 2> "$family.log" \
        && vldac train model.path="tiny-$family" train.total_env_steps=512 name="$family" >> "$family.log" 2>&1; then
        rows=$(wc -l < "runs/$family/metrics.jsonl")
        echo "$family: ok, $rows updates, $(( $(date +%s) - start )) s, $(grep -c '^Note:' "$family.log") fast-path note(s)"
    else
        echo "$family: FAILED ($(tail -1 "$family.log"))"
        failed=1
    fi
done
exit $failed
