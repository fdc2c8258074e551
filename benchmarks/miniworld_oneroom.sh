#!/usr/bin/env bash
# Issue 5's learning benchmark: the built-in tiny VLM, warm-started from state-dependently wrong
# expert demonstrations (builtin:tiny-miniworld-oneroom), trained with VL-DAC on
# MiniWorld-OneRoomS6 (recipe miniworld_oneroom_tiny) under a 90-minute wall-clock cap; greedy
# and sampled success of the warm start and of the final checkpoint, and the scripted expert,
# on the same 200 held-out seeds; then the learning curve (needs the [plot] extra).
# Usage: benchmarks/miniworld_oneroom.sh [WORKDIR] [extra train overrides...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
workdir="${1:-$(mktemp -d)}"
shift || true
env_id=vldac/MiniWorld-OneRoomS6-v0
evaluate() { vldac eval "$1" --env "$env_id" --episodes 200 --seed 1000000 "${@:2}" 2>/dev/null; }
mkdir -p "$workdir"
cd "$workdir"
echo "warm start greedy:  $(evaluate builtin:tiny-miniworld-oneroom)"
echo "warm start sampled: $(evaluate builtin:tiny-miniworld-oneroom --sample)"
/usr/bin/time -v timeout 90m vldac train miniworld_oneroom_tiny "$@" 2> train.stderr || echo "training stopped (exit $?)"
grep -E "Elapsed \(wall clock\)|Maximum resident set size" train.stderr
run="$(ls -d runs/miniworld-oneroom-tiny* | tail -1)"
echo "final greedy:  $(evaluate "$run/checkpoints/last")"
echo "final sampled: $(evaluate "$run/checkpoints/last" --sample)"
echo "expert:        $(vldac eval expert --env "$env_id" --episodes 200 --seed 1000000 --env-kwargs '{"frame_size": 84}' 2>/dev/null)"
python "$here/learning_curve.py" "$run" --output "$run/learning_curve.png"
echo "run folder: $workdir/$run"
