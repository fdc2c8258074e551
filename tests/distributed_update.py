"""One PPO update on given steps, run by torchrun (several ranks) or plain python (one): what the
equivalence tests in test_distributed.py compare. Not a test module itself.

Every rank plays the same 2N NumberLine envs with the same seeds and random state, so all ranks
hold the same steps; rank r of W then keeps its slice of them (envs r*2N/W ...), runs vldac's
advantages and update through the engine, and rank 0 writes the trained adapters and value head.

    python -m torch.distributed.run --nproc_per_node 2 tests/distributed_update.py OUT_DIR
    python tests/distributed_update.py OUT_DIR      (or run_cases in a test's own process)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from safetensors.torch import save_file

from vldac.agents import NumberLineInterface
from vldac.algorithms import STEPS, algorithm_named
from vldac.config import AlgorithmSettings, LoraSettings, ModelSettings
from vldac.models.loading import build_policy
from vldac.rollout.collector import LockstepEnvs, RolloutSettings, collect_group_episodes, collect_rollout
from vldac.train.distributed import Ranks
from vldac.train.update import UpdateBatch, ppo_update

FRAME_SIZE = 84


def trained_weights(policy) -> dict[str, torch.Tensor]:
    weights = {name: p.detach().clone() for name, p in policy.model.named_parameters() if p.requires_grad}
    weights.update({f"value_head.{name}": p.detach().clone() for name, p in policy.value_head.named_parameters()})
    return weights


def one_update(
    ranks: Ranks, algorithm: AlgorithmSettings, all_envs: int, lr: float, nan_on_rank: int | None
) -> tuple[dict[str, torch.Tensor], dict]:
    """Collect on ``all_envs`` envs, keep this rank's slice (its advantages NaN on rank
    ``nan_on_rank``), update; the trained weights, how far they moved, and the diagnostics."""
    method = algorithm_named(algorithm.name)
    torch.manual_seed(0)
    policy = build_policy(ModelSettings(path="builtin:tiny-numberline", value_head_hidden=[16], lora=LoraSettings(r=4, alpha=8),
                                        device="cpu"), instruction_first=True)
    seeds = iter(range(100, 10_000))
    envs = LockstepEnvs("vldac/NumberLine-v0", all_envs, NumberLineInterface(), history=1, invalid_penalty=-1.0,
                        next_seed=lambda: next(seeds), env_kwargs={"frame_size": FRAME_SIZE},
                        autoreset=method.rollout == STEPS)
    mine = np.array_split(np.arange(all_envs), ranks.world_size)[ranks.rank]
    settings = RolloutSettings(temperature=1.0, max_new_tokens=24)
    if method.rollout == STEPS:
        buffer, _, _ = collect_rollout(envs, policy, settings, num_steps=3)
        steps = {key: grid[:, mine] for key, grid in buffer.step_tensors().items()}
        records = [buffer.records[t][i] for t in range(buffer.num_steps) for i in mine]
        rollout = SimpleNamespace(records=records, trajectories=None, steps=steps)
    else:
        trajectories, _, _ = collect_group_episodes(envs, policy, settings, algorithm.group_size)
        trajectories = [trajectories[i] for i in mine]
        records = [record for trajectory in trajectories for record in trajectory]
        rollout = SimpleNamespace(records=records, trajectories=trajectories, steps=None)
    result = method.advantages(rollout, algorithm, ranks)
    advantages, returns = result.advantages, result.returns
    if ranks.rank == nan_on_rank:
        advantages = torch.full_like(advantages, torch.nan)
    initial = trained_weights(policy)
    # Plain SGD: the comparison is of the all-reduced gradients. (AdamW's first steps are
    # lr * g / (|g| + eps), which turns 1e-9 float noise in near-zero gradients, from padding the
    # rows differently, into steps of lr size.)
    parameters = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD([{"params": parameters, "lr": lr}, {"params": policy.value_head.parameters(), "lr": 0.1}])
    scorer, optimizer = ranks.prepare(policy.scorer, optimizer)
    result = ppo_update(policy, optimizer, parameters, UpdateBatch(records, advantages, returns), algorithm, 1.0,
                        value_only=False, rng=np.random.default_rng(ranks.rank), ranks=ranks, scorer=scorer)
    envs.close()
    result["rows"] = ranks.gather(len(records))
    weights = trained_weights(policy)
    result["moved"] = max(float((weights[k] - initial[k]).abs().max()) for k in weights if "lora_" in k)
    return weights, result


CASES = {
    # One mini-batch per rank and epoch: the rows of a step are the same whatever their order.
    "vldac": (AlgorithmSettings(name="vldac", minibatch_size=1_000, ppo_epochs=2, kl_coef=0.05), 4, 100.0, None),
    "loop": (AlgorithmSettings(name="loop", group_size=2, minibatch_size=1_000, ppo_epochs=2, kl_coef=0.05), 8, 10.0, None),
    # Small mini-batches: the ranks' episode lengths differ, so would their step counts.
    "loop_small_minibatches": (AlgorithmSettings(name="loop", group_size=2, minibatch_size=2, ppo_epochs=2), 8, 1.0, None),
    # A non-finite loss on the last rank only: every rank skips the step together.
    "nan_on_last_rank": (AlgorithmSettings(name="vldac", minibatch_size=1_000, ppo_epochs=2, kl_coef=0.05), 4, 100.0, -1),
}
"""name: (algorithm, envs over all ranks, SGD learning rate of the adapters, rank with NaN
advantages (-1: the last) or None)."""


def run_cases(ranks: Ranks, out: Path, names: list[str]) -> None:
    """Each case's update; rank 0 writes NAME-W.safetensors and summary-W.json (W ranks)."""
    summary = {}
    for name in names:
        algorithm, all_envs, lr, nan_on_rank = CASES[name]
        nan_on_rank = ranks.world_size - 1 if nan_on_rank == -1 else nan_on_rank
        weights, result = one_update(ranks, algorithm, all_envs, lr, nan_on_rank)
        everyone = ranks.gather(weights)
        summary[name] = {
            "rows": result["rows"], "skipped_steps": result["skipped_steps"], "moved": result["moved"],
            "ranks_agree": all(torch.equal(weights[k], other[k]) for other in everyone for k in weights),
        }
        if ranks.is_main:
            save_file(weights, out / f"{name}-{ranks.world_size}.safetensors")
    if ranks.is_main:
        (out / f"summary-{ranks.world_size}.json").write_text(json.dumps(summary))


if __name__ == "__main__":
    ranks = Ranks("cpu")
    torch.set_num_threads(1)
    try:
        run_cases(ranks, Path(sys.argv[1]), list(CASES))
    finally:
        ranks.end()
