"""Do two checkouts of vldac compute the same thing? Run each step under each tree's PYTHONPATH.

The rollout's randomness aside, training is a deterministic function of the code: this checks
that two trees (e.g. before and after a speed change) give bit-identical greedy rollouts of the
MiniWorld-OneRoomS6 warm start (tokens, log-probs, values, bootstrap values, rewards) and
bit-identical weights after PPO updates of one saved sampled rollout.

  PYTHONPATH=A/src python benchmarks/tree_equivalence.py greedy-rollouts a_greedy.pt
  PYTHONPATH=B/src python benchmarks/tree_equivalence.py greedy-rollouts b_greedy.pt
  PYTHONPATH=A/src python benchmarks/tree_equivalence.py sample rollouts.pkl
  PYTHONPATH=A/src python benchmarks/tree_equivalence.py update rollouts.pkl a_update.pt
  PYTHONPATH=B/src python benchmarks/tree_equivalence.py update rollouts.pkl b_update.pt
  python benchmarks/tree_equivalence.py compare a_greedy.pt b_greedy.pt a_update.pt b_update.pt
"""

from __future__ import annotations

import argparse
import functools
import inspect
import pickle

import numpy as np
import torch

RECIPE = "miniworld_oneroom_tiny"
ROLLOUTS, STEPS, ENVS = 3, 8, 32
RECORD_FIELDS = ["frames", "text", "token_ids", "logprobs", "value", "reward", "terminated", "truncated", "invalid",
                 "final_frames", "final_text", "action_start"]
"""StepRecord fields every tree has (saved as plain dicts, so trees with other record classes read them)."""


def setup():
    from vldac.agents import interface_for
    from vldac.config import TrainConfig, load_config, read_recipe
    from vldac.models.loading import build_policy
    from vldac.rollout.collector import LockstepEnvs

    torch.set_num_threads(1)
    config = load_config(TrainConfig, read_recipe(RECIPE, ""), [])
    torch.manual_seed(0)
    policy = build_policy(config.model, instruction_first=config.env.instruction_first)
    seeds = iter(range(10**6))
    envs = LockstepEnvs(config.env.id, ENVS, interface_for(config.env.id, config.env.kwargs), config.env.history,
                        config.env.invalid_penalty, next_seed=lambda: next(seeds), env_kwargs=config.env.kwargs)
    return config, policy, envs


def rollouts(policy, envs, config):
    from vldac.rollout.collector import RolloutSettings, collect_rollout

    for _ in range(ROLLOUTS):
        if hasattr(policy, "forget_frames"):
            policy.forget_frames()
        buffer, _, _ = collect_rollout(envs, policy, RolloutSettings(1.0, config.generation.max_new_tokens), STEPS)
        yield buffer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["greedy-rollouts", "sample", "update", "compare"])
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    if args.mode == "compare":
        compare(*args.paths)
        return
    config, policy, envs = setup()
    if args.mode == "greedy-rollouts":
        policy.sample = functools.partial(policy.sample, greedy=True)
        saved = [{"tokens": [r.token_ids for r in b.flat_records()], "logprobs": [r.logprobs for r in b.flat_records()],
                  "steps": b.step_tensors()} for b in rollouts(policy, envs, config)]
        torch.save(saved, args.paths[0])
    elif args.mode == "sample":
        saved = [([{name: getattr(r, name) for name in RECORD_FIELDS} for r in b.flat_records()], b.step_tensors())
                 for b in rollouts(policy, envs, config)]
        with open(args.paths[0], "wb") as handle:
            pickle.dump(saved, handle)
    else:
        update(config, policy, *args.paths)


def update(config, policy, rollouts_path: str, output: str) -> None:
    """PPO updates (the first value-only) over the saved rollouts, plain AdamW, mini-batch order seeded."""
    from vldac.algorithms import gae, normalize_advantages
    from vldac.rollout.buffer import StepRecord
    from vldac.train.update import UpdateBatch, ppo_update

    with open(rollouts_path, "rb") as handle:
        saved = pickle.load(handle)
    parameters = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": parameters, "lr": config.optim.lr},
                                   {"params": list(policy.value_head.parameters()), "lr": config.optim.value_lr}],
                                  weight_decay=config.optim.weight_decay)
    rng = np.random.default_rng(1)
    algorithm = config.algorithm
    # Trees from before multi-process training take no ranks (one process either way).
    if "ranks" in inspect.signature(ppo_update).parameters:
        from vldac.train.distributed import Ranks

        one_process = {"ranks": Ranks("cpu"), "scorer": policy.scorer}
    else:
        one_process = {}
    for index, (fields, steps) in enumerate(saved):
        records = [StepRecord(**row) for row in fields]
        advantages, returns = gae(steps["rewards"], steps["values"], steps["next_values"], steps["terminated"],
                                  steps["truncated"], algorithm.gamma, algorithm.gae_lambda)
        losses = ppo_update(policy, optimizer, parameters,
                            UpdateBatch(records, normalize_advantages(advantages.reshape(-1)), returns.reshape(-1)),
                            algorithm, 1.0, value_only=index == 0, rng=rng, **one_process)
        print(f"update {index}: " + ", ".join(f"{key} {value:.6g}" for key, value in losses.items() if value is not None))
    torch.save({"lora": [p.detach() for p in parameters], "head": [p.detach() for p in policy.value_head.parameters()]},
               output)


def compare(greedy_a: str, greedy_b: str, update_a: str, update_b: str) -> None:
    """Print every difference; exit 1 unless the two trees agree bit for bit."""
    identical = True
    a, b = torch.load(greedy_a), torch.load(greedy_b)
    for index, (x, y) in enumerate(zip(a, b, strict=True)):
        tokens = all(torch.equal(p, q) for p, q in zip(x["tokens"], y["tokens"], strict=True))
        logprobs = max(float((p - q).abs().max()) for p, q in zip(x["logprobs"], y["logprobs"], strict=True))
        steps = {key: float((x["steps"][key].float() - y["steps"][key].float()).abs().max()) for key in x["steps"]}
        identical &= tokens and logprobs == 0 and not any(steps.values())
        print(f"greedy rollout {index}: tokens equal {tokens}, max log-prob difference {logprobs:g}, "
              + ", ".join(f"{key} {value:g}" for key, value in steps.items()))
    a, b = torch.load(update_a), torch.load(update_b)
    for part in ("lora", "head"):
        difference = max(float((p - q).abs().max()) for p, q in zip(a[part], b[part], strict=True))
        identical &= difference == 0
        print(f"after the updates, max |{part} weight difference|: {difference:g}")
    print("bit-identical" if identical else "DIFFERENT")
    if not identical:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
