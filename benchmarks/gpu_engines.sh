#!/usr/bin/env bash
# Issue 13's GPU check, on one GPU: the FSDP and DeepSpeed ZeRO-2 accelerate configs each train a
# tiny random Qwen2-VL on NumberLine for a few updates, are killed with kill -9 after the second
# checkpoint, resume, finish, and the last checkpoint plays with vldac eval (plain peft loading).
# Needs a CUDA build of torch and vldac installed (ZeRO-2 also the extra: pip install -e ".[deepspeed]").
# Usage: benchmarks/gpu_engines.sh [WORKDIR] [configs...]   (exit 1 when a config failed)
set -uo pipefail
configs_dir="$(cd "$(dirname "$0")/.." && pwd)/src/vldac/configs/accelerate"
workdir="${1:-$(mktemp -d)}"
shift || true
configs=("$@")
[ ${#configs[@]} -eq 0 ] && configs=(fsdp deepspeed_zero2)
mkdir -p "$workdir" && cd "$workdir"
vldac tiny-model qwen2_vl tiny 2> tiny.log || { echo "tiny-model FAILED ($(tail -1 tiny.log))"; exit 1; }
settings=(model.path=tiny model.value_head_hidden=[64] env.num_envs=8 generation.max_new_tokens=16
          train.rollout_steps=4 train.total_env_steps=160 train.checkpoint_every=1 train.eval_every=2
          train.eval_episodes=8 algorithm.minibatch_size=8)
failed=0
for config in "${configs[@]}"; do
    launch=(accelerate launch --config_file "$configs_dir/$config.yaml" --num_processes 1 -m vldac train)
    start=$(date +%s)
    setsid "${launch[@]}" "${settings[@]}" name="$config" > "$config.log" 2>&1 &
    leader=$!
    for _ in $(seq 1200); do
        [ -d "runs/$config/checkpoints/update_00002" ] && break
        kill -0 $leader 2>/dev/null || break
        sleep 0.25
    done
    kill -9 -- -$leader 2>/dev/null
    wait $leader 2>/dev/null
    if [ ! -d "runs/$config/checkpoints/update_00002" ]; then
        echo "$config: FAILED before its second checkpoint ($(grep -v '^\s*$' "$config.log" | tail -1))"
        failed=1
        continue
    fi
    if "${launch[@]}" --resume "runs/$config" >> "$config.log" 2>&1 \
        && vldac eval "runs/$config/checkpoints/last" --env vldac/NumberLine-v0 --episodes 8 > "$config.eval.json" 2>> "$config.log"; then
        rows=$(wc -l < "runs/$config/metrics.jsonl")
        echo "$config: ok, killed after update 2 and resumed, $rows updates, $(( $(date +%s) - start )) s," \
             "engine state: $(ls "runs/$config/checkpoints/last" | grep -c engine_state), eval: $(cat "$config.eval.json")"
    else
        echo "$config: FAILED after resuming ($(grep -v '^\s*$' "$config.log" | tail -1))"
        failed=1
    fi
done
exit $failed
