#!/usr/bin/env bash
# The skeleton's acceptance benchmark: the default job (`vldac train`) under /usr/bin/time,
# then greedy evaluation of the warm start and of the final checkpoint on 200 held-out seeds,
# then the learning curve as a PNG (needs matplotlib: pip install -e ".[plot]").
# Usage: benchmarks/numberline_default.sh [WORKDIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
workdir="${1:-$(mktemp -d)}"
mkdir -p "$workdir"
cd "$workdir"
/usr/bin/time -v vldac train 2> train.stderr
grep -E "Elapsed \(wall clock\)|Maximum resident set size" train.stderr
run="$(ls -d runs/numberline-tiny* | tail -1)"
initial="$(python -c "import json,sys; print(json.load(open('$run/summary.json'))['initial_checkpoint'])")"
final="$(python -c "import json,sys; print(json.load(open('$run/summary.json'))['final_checkpoint'])")"
echo "initial: $(vldac eval "$initial" --env vldac/NumberLine-v0 --episodes 200 --seed 1000000 2>/dev/null)"
echo "final:   $(vldac eval "$final" --env vldac/NumberLine-v0 --episodes 200 --seed 1000000 2>/dev/null)"
python "$here/learning_curve.py" "$run" --output "$run/learning_curve.png"
echo "run folder: $workdir/$run"
