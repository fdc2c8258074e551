#!/usr/bin/env bash
# The Gym-Cards benchmark for one world with the built-in tiny VLM: greedy evaluation of the
# shipped warm start, VL-DAC training with the packaged recipe (default settings), greedy
# evaluation of the final checkpoint and of the scripted expert, all on the same held-out seeds.
# Usage: benchmarks/cards_suite.sh WORLD [EPISODES] [WORKDIR]
#   WORLD: numberline | ezpoints | points24 | blackjack
set -euo pipefail
world="$1"
episodes="${2:-500}"
workdir="${3:-$(mktemp -d)}"
declare -A ids=([numberline]=NumberLine [ezpoints]=EZPoints [points24]=Points24 [blackjack]=Blackjack)
env_id="vldac/${ids[$world]}-v0"
mkdir -p "$workdir"
cd "$workdir"
echo "warm start: $(vldac eval "builtin:tiny-$world" --env "$env_id" --episodes "$episodes" --seed 1000000 2>/dev/null)"
/usr/bin/time -v vldac train "${world}_tiny" 2> "train-$world.stderr"
grep -E "Elapsed \(wall clock\)|Maximum resident set size" "train-$world.stderr"
run="$(ls -d runs/${world}-tiny* | tail -1)"
echo "summary: $(tr -d '\n ' < "$run/summary.json")"
echo "final:  $(vldac eval "$run/checkpoints/last" --env "$env_id" --episodes "$episodes" --seed 1000000 2>/dev/null)"
frame="$(python -c "import json; print(json.dumps(json.load(open('$run/checkpoints/last/vldac_settings.json'))['env_kwargs']))")"
echo "expert: $(vldac eval expert --env "$env_id" --episodes "$episodes" --seed 1000000 --env-kwargs "$frame" 2>/dev/null)"
echo "run folder: $workdir/$run"
