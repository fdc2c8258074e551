"""How far generation's log-probs are from the update's forward, per dtype (the first PPO ratio).

Rolls out a world (NumberLine by default: every prompt the same length) with a model folder's
policy (LoRA, fresh adapters), then scores the same answers with the update's forward
(``policy.rescore``, train mode, no grad) in chunks of 16 and of 4 rows, and prints
|generation - scorer| and |scorer in 16-row chunks - scorer in 4-row chunks| over every sampled
token (max, mean, 99th percentile), for each ``--dtype``. The second shows whether the forward's
numbers depend on which rows share a batch (padding to different shapes, e.g. ALFWorld's prompts
of different lengths).

    vldac build-model smolvlm-135m /tmp/smolvlm
    python benchmarks/logprob_agreement.py /tmp/smolvlm --dtype float32 bfloat16
    python benchmarks/logprob_agreement.py runs/sft-alfworld-smolvlm --env vldac/ALFWorld-PickAndPlaceSimple-v0 \
        --env-kwargs '{"frame_size": 84, "rooms": [316, 329, 419, 420], "other_object_types": 2, "expert": null}'
"""

from __future__ import annotations

import argparse
import itertools
import json

import torch

from vldac.agents import interface_for
from vldac.config import ModelSettings
from vldac.models.loading import build_policy
from vldac.rollout.collector import LockstepEnvs, RolloutSettings, collect_rollout


def differences(first: list[torch.Tensor], second: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([(a - b).abs() for a, b in zip(first, second, strict=True)])


def summary(name: str, values: torch.Tensor) -> str:
    return f"{name}: max {values.max():.4f} mean {values.mean():.5f} p99 {values.quantile(0.99):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a model folder (e.g. from vldac build-model)")
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--env", default="vldac/NumberLine-v0")
    parser.add_argument("--env-kwargs", default='{"frame_size": 84}', help="JSON world arguments")
    args = parser.parse_args()
    for dtype in args.dtype:
        torch.manual_seed(0)
        policy = build_policy(ModelSettings(path=args.model, dtype=dtype, value_head_hidden=[16]))
        seeds = itertools.count()
        kwargs = json.loads(args.env_kwargs)
        envs = LockstepEnvs(args.env, args.envs, interface_for(args.env, kwargs), history=1, invalid_penalty=-1.0,
                            next_seed=lambda: next(seeds), env_kwargs=kwargs)
        buffer, _, _ = collect_rollout(envs, policy, RolloutSettings(1.0, args.max_new_tokens), args.steps)
        records = buffer.flat_records()
        observations, answers = [(r.frames, r.text) for r in records], [r.token_ids for r in records]
        policy.chunk_size = 16
        in_sixteens, _ = policy.rescore(observations, answers, 1.0)
        policy.chunk_size = 4
        in_fours, _ = policy.rescore(observations, answers, 1.0)
        generated = [r.logprobs for r in records]
        print(f"{dtype}, {sum(len(a) for a in answers)} tokens, mean log-prob {torch.cat(generated).mean():.2f} | "
              f"{summary('generation vs scorer', differences(generated, in_sixteens))} | "
              f"{summary('scorer 16-row vs 4-row chunks', differences(in_sixteens, in_fours))}")


if __name__ == "__main__":
    main()
