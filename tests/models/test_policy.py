"""The model layer (rollout engine, scorer, loading) on a tiny random model of every supported family."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from vldac.agents import NumberLineInterface
from vldac.algorithms import value_loss
from vldac.config import AlgorithmSettings, LoraSettings, ModelSettings
from vldac.models.loading import ModelLoadError, build_policy, load_policy, save_policy
from vldac.models.families import backbone, declined_fast_paths
from vldac.models.tokens import AnswerTokens, pad_answers
from vldac.models.vision_cache import frame_key
from vldac.rollout.collector import RolloutSettings, collect_rollout
from vldac.train.distributed import Ranks
from vldac.train.update import UpdateBatch, ppo_update
from tests.helpers import float32_logprob_atol
from tests.helpers import lora_policy, numberline_envs, plain_answers, ragged_observations


def texts(n: int) -> list[str]:
    return [NumberLineInterface().instruction({})] * n


def test_the_end_tokens_are_every_eos_id_of_the_models_generation_config(family_model_dir):
    policy = load_policy(str(family_model_dir))
    tokenizer = policy.processor.tokenizer
    im_end, end_of_text = tokenizer.convert_tokens_to_ids([tokenizer.eos_token, tokenizer.pad_token])
    assert policy.tokens.end_ids == (im_end,)
    policy.model.generation_config.eos_token_id = [im_end, end_of_text]
    tokens = AnswerTokens.of(policy.model, policy.processor)
    assert tokens.end_ids == (im_end, end_of_text)
    # A base model's list may lack the chat template's end-of-turn token: it is added, first (the
    # token demonstrations are written with).
    policy.model.generation_config.eos_token_id = end_of_text
    assert AnswerTokens.of(policy.model, policy.processor).end_ids == (im_end, end_of_text)
    a, b, c, d = tokenizer.convert_tokens_to_ids(list("abcd"))
    ids = torch.tensor([[a, end_of_text, c, c], [a, b, im_end, end_of_text], [a, b, c, d]])
    mask, cut_off = tokens.first_end_mask(ids)
    assert mask.tolist() == [[True, True, False, False], [True, True, True, False], [True, True, True, True]]
    assert cut_off.tolist() == [False, False, True]


def test_generation_stops_at_any_end_token_of_the_list(tiny_qwen2vl_dir):
    policy = load_policy(str(tiny_qwen2vl_dir))
    tokenizer = policy.processor.tokenizer
    histories, instructions = ragged_observations(4)
    prompts = policy.prompts(histories, instructions)
    greedy = policy.sample(prompts, 1.0, 6, greedy=True).token_ids
    # Declare two tokens that greedy decoding writes (row 0's third, row 1's second) end tokens.
    end_ids = [int(greedy[0, 2]), int(greedy[1, 1]), tokenizer.convert_tokens_to_ids("<|im_end|>")]
    policy.model.generation_config.eos_token_id = end_ids
    policy.tokens = policy.engine.tokens = AnswerTokens.of(policy.model, policy.processor)
    assert set(policy.tokens.end_ids) == set(end_ids)
    stopped = policy.sample(prompts, 1.0, 6, greedy=True)
    # Rows that ended early (and the one that runs to the limit) keep exactly their tokens' log-probs.
    logprobs, _ = policy.score(prompts, stopped.token_ids, stopped.token_mask, 1.0)
    torch.testing.assert_close(torch.where(stopped.token_mask, logprobs, 0.0), stopped.token_logprobs, atol=1e-5, rtol=0)
    is_end = torch.isin(greedy, torch.tensor(end_ids))
    for row in range(4):
        expected = int(is_end[row].nonzero()[0]) + 1 if is_end[row].any() else 6
        assert int(stopped.token_mask[row].sum()) == expected
        assert bool(stopped.cut_off[row]) == (not is_end[row].any())
        assert torch.equal(stopped.token_ids[row, :expected], greedy[row, :expected])
    assert stopped.token_mask[0].sum() <= 3 and stopped.token_mask[1].sum() <= 2


def test_sampling_ignores_near_greedy_generation_config(family_model_dir):
    saved = json.loads((family_model_dir / "generation_config.json").read_text())
    assert saved["top_k"] == 1 and saved["top_p"] == 0.001
    policy = load_policy(str(family_model_dir))
    envs = numberline_envs(1)
    prompts = policy.prompts(envs.frame_histories() * 64, texts(64))
    samples = policy.sample(prompts, temperature=1.0, max_new_tokens=1)
    first_tokens = samples.token_ids[:, 0].tolist()
    # A random-weight model is close to uniform over ~300 tokens: 64 true samples give many
    # distinct tokens, while top_k=1 / top_p=0.001 would give one.
    assert len(set(first_tokens)) > 20
    # The recorded log-probs are those of softmax(logits / T) without any warper.
    logprobs, _ = policy.score(prompts, samples.token_ids, samples.token_mask, temperature=1.0)
    torch.testing.assert_close(logprobs, samples.token_logprobs, atol=1e-5, rtol=0)
    # Greedy decoding is deterministic.
    greedy = [policy.sample(prompts, 1.0, 3, greedy=True).token_ids for _ in range(2)]
    assert torch.equal(greedy[0], greedy[1])


def test_lora_sampling_ignores_the_base_models_generation_config(tiny_qwen2vl_dir):
    """The fixture's generation_config has min_p=1.0 (keep only the argmax): under peft, generate
    reads the base model's config, and it must not leak into sampling either. One family: peft's
    wrapper and vldac's sampling settings are the same for every family."""
    assert json.loads((tiny_qwen2vl_dir / "generation_config.json").read_text())["min_p"] == 1.0
    policy = lora_policy(tiny_qwen2vl_dir)
    envs = numberline_envs(1)
    prompts = policy.prompts(envs.frame_histories() * 64, texts(64))
    samples = policy.sample(prompts, temperature=1.0, max_new_tokens=1)
    assert len(set(samples.token_ids[:, 0].tolist())) > 20
    assert policy.model.get_base_model().generation_config.min_p == 1.0  # restored afterwards


@pytest.mark.parametrize("temperature", [0.7, 1.5])
def test_recorded_logprobs_are_those_of_the_tempered_distribution(tiny_qwen2vl_dir, temperature):
    policy = load_policy(str(tiny_qwen2vl_dir))
    histories, instructions = ragged_observations(6)
    prompts = policy.prompts(histories, instructions)
    samples = policy.sample(prompts, temperature, 10)
    logprobs, _ = policy.score(prompts, samples.token_ids, samples.token_mask, temperature)
    assert samples.token_logprobs.dtype == torch.float32
    torch.testing.assert_close(logprobs * samples.token_mask, samples.token_logprobs, atol=1e-5, rtol=0)


def test_sampled_answers_never_hold_vision_placeholders(family_model_dir):
    policy = load_policy(str(family_model_dir))
    assert policy.tokens.blocked_ids
    envs = numberline_envs(1)
    prompts = policy.prompts(envs.frame_histories() * 32, texts(32))
    samples = policy.sample(prompts, temperature=3.0, max_new_tokens=16)
    assert not np.isin(samples.token_ids[samples.token_mask].numpy(), policy.tokens.blocked_ids).any()


def test_ragged_prompts_give_each_row_what_it_gets_alone(family_model_dir):
    """Prompts of different lengths and 1-4 frames, left-padded in one batch: the rollout's value
    (read at each row's last prompt token) and log-probs equal the same row's scored alone."""
    policy = lora_policy(family_model_dir)
    atol = float32_logprob_atol(family_model_dir)
    histories, instructions = ragged_observations(5)
    prompts = policy.prompts(histories, instructions)
    assert (prompts["attention_mask"] == 0).any(dim=1).sum() >= 3  # left padding exercised
    assert prompts["attention_mask"][:, -1].all()
    samples = policy.sample(prompts, 1.0, 8)
    with torch.no_grad():
        batch_logprobs, batch_values = policy.score(prompts, samples.token_ids, samples.token_mask, 1.0)
    torch.testing.assert_close(batch_values, samples.values, atol=atol, rtol=0)
    for row in range(5):
        alone = policy.prompts(histories[row : row + 1], instructions[row : row + 1])
        length = int(samples.token_mask[row].sum())
        ids, mask = samples.token_ids[row : row + 1, :length], samples.token_mask[row : row + 1, :length]
        with torch.no_grad():
            logprobs, value = policy.score(alone, ids, mask, 1.0)
        torch.testing.assert_close(value, samples.values[row : row + 1], atol=atol, rtol=0)
        torch.testing.assert_close(logprobs, samples.token_logprobs[row : row + 1, :length], atol=atol, rtol=0)
        torch.testing.assert_close(logprobs, batch_logprobs[row : row + 1, :length], atol=atol, rtol=0)


def scores_and_gradients(policy, prompts, ids, mask) -> tuple:
    """(masked log-probs, values, gradients of every trainable scorer parameter) of one scoring
    forward with gradient, the backward taken on log-probs + values."""
    policy.model.train()
    logprobs, values = policy.score(prompts, ids, mask, 1.0)
    ((logprobs * mask).sum() + values.sum()).backward()
    gradients = {n: p.grad.clone() for n, p in policy.scorer.named_parameters() if p.requires_grad}
    return torch.where(mask, logprobs, 0.0).detach(), values.detach(), gradients


def assert_same_scores_and_gradients(actual: tuple, expected: tuple) -> None:
    """Log-probs and values to 1e-5, gradients to 1e-5 absolute / 1e-4 relative."""
    torch.testing.assert_close(actual[0], expected[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(actual[1], expected[1], atol=1e-5, rtol=0)
    for name, gradient in expected[2].items():
        torch.testing.assert_close(actual[2][name], gradient, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("varied_instructions", [False, True])
def test_the_shared_prompt_prefix_gives_the_same_logprobs_values_and_gradients(fast_path_model_dir, varied_instructions):
    """Instruction first, prompts of 1-4 frames: the scorer computing the rows' common prefix once
    gives each row's log-probs, value and the LoRA gradients of the plain forward (1e-5)."""
    histories, instructions = ragged_observations(4)
    if not varied_instructions:
        instructions = [instructions[0]] * 4
    results = []
    for share in (False, True):
        torch.manual_seed(0)
        policy = build_policy(ModelSettings(path=str(fast_path_model_dir), value_head_hidden=[16], share_prompt_prefix=share),
                              instruction_first=True)
        assert policy.scorer.share_prefix == share
        prompts = policy.prompts(histories, instructions)
        answers = plain_answers(policy)
        ids, mask = pad_answers([*answers, answers[0]], policy.pad_id)
        results.append(scores_and_gradients(policy, prompts, ids, mask))
    from vldac.models.shared_prefix import MIN_SHARED_TOKENS, shared_prefix_length

    assert shared_prefix_length(prompts) >= MIN_SHARED_TOKENS  # the shared path did run
    assert_same_scores_and_gradients(results[1], results[0])


def test_the_last_layer_only_at_read_columns_gives_the_full_layers_logprobs_values_and_gradients(family_model_dir, monkeypatch):
    """Prompts of 1-4 frames, answers of 1-3 tokens: the scorer running the last decoder layer's MLP
    and output projection only where logits and the value are read gives what the full last layer
    gives (1e-5), with those parts seeing only the read columns."""
    from contextlib import nullcontext

    import vldac.models.scorer
    from vldac.models.read_positions import last_layer_parts

    histories, instructions = ragged_observations(4)
    results, last_widths = [], []
    for whole_layer in (True, False):
        if whole_layer:
            monkeypatch.setattr(vldac.models.scorer, "last_layer_only_at", lambda model, keep: nullcontext())
        else:
            monkeypatch.undo()
        torch.manual_seed(0)
        policy = lora_policy(family_model_dir)
        widths = []
        parts = last_layer_parts(policy.model)
        assert len(parts) == 2, "every family's last layer has an MLP and an attention output projection"
        handle = parts[0].register_forward_hook(lambda module, args, output: widths.append(args[0].shape[1]))
        prompts = policy.prompts(histories, instructions)
        answers = plain_answers(policy)
        ids, mask = pad_answers([*answers, answers[0]], policy.pad_id)
        results.append(scores_and_gradients(policy, prompts, ids, mask))
        handle.remove()
        last_widths.append(widths[-1])
    assert last_widths[1] == ids.shape[1] < last_widths[0]
    assert_same_scores_and_gradients(results[1], results[0])


def test_generation_with_the_reserved_cache_samples_what_transformers_cache_samples(family_model_dir, monkeypatch):
    """Every family, prompts of 1-4 frames: the same greedy answers and log-probs (1e-5) with the
    reserved KV cache as with transformers' own; families with sliding-window layers keep theirs."""
    import vldac.models.engine
    from vldac.models.reserved_cache import reserved_cache

    histories, instructions = ragged_observations(4)
    answers = []
    for reserved in (True, False):
        if not reserved:
            monkeypatch.setattr(vldac.models.engine, "reserved_cache", lambda *args: None)
        policy = lora_policy(family_model_dir)
        answers.append(policy.sample(policy.prompts(histories, instructions), 1.0, 8, greedy=True))
    assert torch.equal(answers[0].token_ids, answers[1].token_ids)
    torch.testing.assert_close(answers[0].token_logprobs, answers[1].token_logprobs, atol=1e-5, rtol=0)
    text_config = policy.model.config.get_text_config(decoder=True)
    full_attention = set(getattr(text_config, "layer_types", None) or ["full_attention"]) == {"full_attention"}
    assert (reserved_cache(policy.model, 16) is not None) == (full_attention and not getattr(text_config, "use_sliding_window", False))


def test_the_reserved_layer_holds_what_concatenation_holds():
    """Updates of 3, 1 and 1 positions, past the reserved room, after a batch repeat and a crop:
    the same keys and values as transformers' DynamicLayer, which concatenates."""
    from transformers.cache_utils import DynamicLayer

    from vldac.models.reserved_cache import ReservedLayer

    reserved, dynamic = ReservedLayer(capacity=4), DynamicLayer()
    chunks = [torch.randn(1, 2, n, 8) for n in (3, 1, 1)]
    for chunk in chunks:
        for layer in (reserved, dynamic):
            keys, values = layer.update(chunk, -chunk)
        torch.testing.assert_close(keys, dynamic.keys, atol=0, rtol=0)
    assert reserved.get_seq_length() == 5 and reserved.key_buffer.shape[-2] == 5
    for layer in (reserved, dynamic):
        layer.batch_repeat_interleave(3)
        layer.crop(-2)
        layer.update(torch.ones(3, 2, 2, 8), torch.zeros(3, 2, 2, 8))
    torch.testing.assert_close(reserved.keys, dynamic.keys, atol=0, rtol=0)
    torch.testing.assert_close(reserved.values, dynamic.values, atol=0, rtol=0)


def test_generation_from_the_shared_prefix_samples_what_the_plain_scorer_scores(fast_path_model_dir):
    histories, instructions = ragged_observations(5)
    instructions = [instructions[0]] * 5
    plain = build_policy(ModelSettings(path=str(fast_path_model_dir), value_head_hidden=[16], share_prompt_prefix=False),
                         instruction_first=True)
    shared = build_policy(ModelSettings(path=str(fast_path_model_dir), value_head_hidden=[16]), instruction_first=True)
    shared.scorer.value_head.load_state_dict(plain.scorer.value_head.state_dict())
    prompts = shared.prompts(histories, instructions)
    assert shared.engine.share_prefix and not plain.engine.share_prefix
    greedy = [policy.sample(prompts, 1.0, 8, greedy=True) for policy in (plain, shared)]
    assert torch.equal(greedy[0].token_ids, greedy[1].token_ids)
    torch.testing.assert_close(greedy[1].values, greedy[0].values, atol=1e-5, rtol=0)
    samples = shared.sample(prompts, 1.0, 8)
    with torch.no_grad():
        logprobs, values = plain.score(prompts, samples.token_ids, samples.token_mask, 1.0)
    torch.testing.assert_close(torch.where(samples.token_mask, logprobs, 0.0), samples.token_logprobs, atol=1e-5, rtol=0)
    torch.testing.assert_close(values, samples.values, atol=1e-5, rtol=0)


def test_text_only_rows_after_an_image_batch_sample_as_in_a_fresh_model(fast_path_model_dir):
    """Qwen-VL keeps the last generation's RoPE offsets; text-only rows continued from the shared
    prefix must not read those of an earlier batch (a batch size mismatch, or wrong positions)."""
    from vldac.models.prompts import encode_conversations

    def chat(text):
        return [{"role": "user", "content": [{"type": "text", "text": text}]}]

    histories, instructions = ragged_observations(5)
    used = build_policy(ModelSettings(path=str(fast_path_model_dir), value_head_hidden=[16]))
    fresh = build_policy(ModelSettings(path=str(fast_path_model_dir), value_head_hidden=[16]))
    used.sample(used.prompts(histories, instructions), 1.0, 4, greedy=True)  # an image batch of 5 rows
    shared_text = "the same long instruction for every row of this batch " * 3
    prompts = encode_conversations(used.processor, [chat(shared_text + "go left"), chat(shared_text + "go right")], [[], []])
    assert used.engine.share_prefix
    answers = [policy.sample(prompts, 1.0, 6, greedy=True) for policy in (used, fresh)]
    assert torch.equal(answers[0].token_ids, answers[1].token_ids)
    torch.testing.assert_close(answers[0].token_logprobs, answers[1].token_logprobs, atol=1e-5, rtol=0)


@pytest.mark.parametrize("instruction_first", [False, True])
def test_cached_vision_features_give_the_same_logprobs_and_values(fast_path_model_dir, instruction_first):
    """Rows that share frames (as frame histories do), 1-4 frames each: features computed once
    per frame give the plain forward's numbers, in the scorer and in generation."""
    histories, instructions = ragged_observations(4)
    histories[2] = histories[3][1:] + histories[0]  # frames seen in other rows
    policies = [
        build_policy(ModelSettings(path=str(fast_path_model_dir), value_head_hidden=[16], vision_cache_frames=frames),
                     instruction_first=instruction_first)
        for frames in (0, 1024)
    ]
    policies[1].scorer.value_head.load_state_dict(policies[0].scorer.value_head.state_dict())
    cache = policies[1].scorer.vision_cache
    assert policies[0].scorer.vision_cache is None and cache is policies[1].engine.vision_cache
    prompts = policies[0].prompts(histories, instructions)
    greedy = [policy.sample(prompts, 1.0, 6, greedy=True) for policy in policies]
    distinct = len({key for key in prompts["frame_keys"]})
    assert cache.misses == distinct < len(prompts["frame_keys"])  # each frame met the vision tower once
    assert torch.equal(greedy[0].token_ids, greedy[1].token_ids)
    torch.testing.assert_close(greedy[1].token_logprobs, greedy[0].token_logprobs, atol=1e-5, rtol=0)
    torch.testing.assert_close(greedy[1].values, greedy[0].values, atol=1e-5, rtol=0)
    for policy in policies:
        policy.model.train()
    scored = [policy.score(prompts, greedy[0].token_ids, greedy[0].token_mask, 1.0) for policy in policies]
    assert cache.misses == distinct  # the scorer found every frame in the cache
    torch.testing.assert_close(scored[1][0], scored[0][0], atol=1e-5, rtol=0)
    torch.testing.assert_close(scored[1][1], scored[0][1], atol=1e-5, rtol=0)
    reference = [policy.reference_logprobs(prompts, greedy[0].token_ids, greedy[0].token_mask, 1.0) for policy in policies]
    torch.testing.assert_close(reference[1], reference[0], atol=1e-5, rtol=0)


def test_the_vision_cache_drops_the_least_recently_used_frames(tiny_qwen2vl_dir):
    policy = build_policy(ModelSettings(path=str(tiny_qwen2vl_dir), value_head_hidden=[16], vision_cache_frames=3))
    histories, instructions = ragged_observations(4)  # 1 + 2 + 3 + 4 frames
    for row in range(4):
        policy.prompts(histories[row : row + 1], instructions[row : row + 1])
        policy.sample(policy.prompts(histories[row : row + 1], instructions[row : row + 1]), 1.0, 1)
    cache = policy.scorer.vision_cache
    assert len(cache.features) == 3 and list(cache.features) == [frame_key(f) for f in histories[3][1:]]


def test_remembered_prompt_rows_collate_to_the_processors_batch(fast_path_model_dir):
    from vldac.models.prompts import collate_rows, encode_prompts, split_rows

    policy = build_policy(ModelSettings(path=str(fast_path_model_dir), value_head_hidden=[16]))
    histories, instructions = ragged_observations(5)
    batch = encode_prompts(policy.processor, histories, instructions)
    rows = split_rows(batch, [len(frames) for frames in histories])
    order = [3, 0, 4]  # a mini-batch in another order and of other rows
    collated = collate_rows([rows[i] for i in order], policy.processor.tokenizer.pad_token_id)
    expected = encode_prompts(policy.processor, [histories[i] for i in order], [instructions[i] for i in order])
    assert set(collated) == set(expected) - {"pixel_values"}
    for key, value in expected.items():
        if key != "pixel_values":
            assert value == collated[key] if key == "frame_keys" else torch.equal(value, collated[key]), key


@pytest.mark.parametrize("vision_cache_frames", [0, 1024])
def test_prompts_met_before_skip_image_processing_only_with_cached_features(fast_path_model_dir, vision_cache_frames):
    policy = build_policy(ModelSettings(path=str(fast_path_model_dir), value_head_hidden=[16], vision_cache_frames=vision_cache_frames))
    histories, instructions = ragged_observations(4)
    first = policy.prompts(histories, instructions)
    assert "pixel_values" in first
    assert "pixel_values" in policy.prompts(histories, instructions)  # no frame has met the vision tower yet
    answers, mask = pad_answers(plain_answers(policy) + plain_answers(policy)[:1], policy.pad_id)
    policy.model.train()
    scored = policy.score(first, answers, mask, 1.0)
    again = policy.prompts(histories[::-1], instructions[::-1])
    assert ("pixel_values" in again) == (not vision_cache_frames)
    rescored = policy.score(again, answers.flip(0), mask.flip(0), 1.0)
    torch.testing.assert_close(rescored[0].flip(0), scored[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(rescored[1].flip(0), scored[1], atol=1e-5, rtol=0)


def test_full_fine_tuning_never_scores_with_stale_vision_features(tiny_qwen2vl_dir):
    """A full fine-tune trains the vision tower, so features cached before a step would be stale:
    after the tower's weights change, scoring the same frames again gives other log-probs and
    values, even with a vision cache asked for."""
    policy = build_policy(ModelSettings(path=str(tiny_qwen2vl_dir), finetune="full", value_head_hidden=[16],
                                        vision_cache_frames=64))
    envs = numberline_envs(2)
    prompts = policy.prompts(envs.frame_histories(), envs.instructions())
    samples = policy.sample(prompts, 1.0, 4)
    before = policy.score(prompts, samples.token_ids, samples.token_mask, 1.0)
    with torch.no_grad():
        for parameter in backbone(policy.model).model.visual.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    after = policy.score(policy.prompts(envs.frame_histories(), envs.instructions()), samples.token_ids,
                         samples.token_mask, 1.0)
    assert not torch.allclose(before[0], after[0]) and not torch.allclose(before[1], after[1])


def test_the_shared_prefix_stops_at_the_first_image_and_where_rows_differ():
    from vldac.models.shared_prefix import align_after_prefix, shared_prefix_length

    prompts = {
        "input_ids": torch.tensor([[0, 5, 6, 7, 9, 3], [5, 6, 7, 8, 9, 3], [0, 0, 5, 6, 9, 4]]),
        "attention_mask": torch.tensor([[0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]]),
        "mm_token_type_ids": torch.tensor([[0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0]]),
    }
    assert shared_prefix_length(prompts) == 2  # rows share [5, 6]; row 2 has its image at index 2
    aligned = align_after_prefix(prompts, 2, pad_id=0)
    assert aligned["input_ids"].tolist() == [[5, 6, 0, 7, 9, 3], [5, 6, 7, 8, 9, 3], [5, 6, 0, 0, 9, 4]]
    assert aligned["attention_mask"].tolist() == [[1, 1, 0, 1, 1, 1], [1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 1, 1]]
    assert aligned["mm_token_type_ids"].tolist() == [[0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 0]]


def test_chunked_values_and_rescoring_equal_the_unchunked_ones(tiny_qwen2vl_dir):
    policy = lora_policy(tiny_qwen2vl_dir, scoring_chunk_size=2)
    histories, instructions = ragged_observations(5)
    prompts = policy.prompts(histories, instructions)
    samples = policy.sample(prompts, 1.0, 6)
    observations = list(zip(histories, instructions))
    torch.testing.assert_close(policy.observation_values(observations), samples.values, atol=1e-5, rtol=0)
    answers = [samples.token_ids[row][samples.token_mask[row]] for row in range(5)]
    logprobs, values = policy.rescore(observations, answers, 1.0)
    torch.testing.assert_close(values, samples.values, atol=1e-5, rtol=0)
    for row, answer_logprobs in enumerate(logprobs):
        torch.testing.assert_close(answer_logprobs, samples.token_logprobs[row][samples.token_mask[row]], atol=1e-5, rtol=0)


def test_the_scorer_is_one_module_holding_the_value_head(tiny_qwen2vl_dir):
    policy = lora_policy(tiny_qwen2vl_dir)
    parameters = list(policy.scorer.parameters())
    assert len({id(p) for p in parameters}) == len(parameters)
    trainable = {id(p) for p in parameters if p.requires_grad}
    assert {id(p) for p in policy.value_head.parameters()} <= trainable
    assert {id(p) for p in policy.model.parameters() if p.requires_grad} <= trainable
    # One forward call of the module gives the log-probs and the values, and its backward reaches both.
    histories, instructions = ragged_observations(3)
    prompts = policy.prompts(histories, instructions)
    samples = policy.sample(prompts, 1.0, 5)
    policy.model.train()
    logprobs, values = policy.scorer(prompts, samples.token_ids, samples.token_mask, 1.0)
    (-(logprobs * samples.token_mask).sum() + values.sum()).backward()
    assert all(p.grad is not None for p in parameters if p.requires_grad)


def test_value_loss_leaves_backbone_and_lora_gradients_exactly_zero(tiny_qwen2vl_dir):
    """One family: the value head detaches the hidden state it reads itself, the same for every
    family."""
    policy = lora_policy(tiny_qwen2vl_dir)
    envs = numberline_envs(4)
    prompts = policy.prompts(envs.frame_histories(), envs.instructions())
    samples = policy.sample(prompts, 1.0, 8)
    policy.model.train()
    _, values = policy.score(prompts, samples.token_ids, samples.token_mask, 1.0)
    value_loss(values, torch.ones_like(values)).backward()
    head_grads = [p.grad for p in policy.value_head.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in head_grads)
    for name, parameter in policy.model.named_parameters():
        assert parameter.grad is None or torch.count_nonzero(parameter.grad) == 0, name


def test_ratio_is_one_on_first_minibatch_after_earlier_optimizer_steps(family_model_dir):
    """Frame histories of 1-3 frames (prompts of different lengths in every mini-batch)."""
    check_first_ratio_after_an_update(family_model_dir, instruction_first=False)


@pytest.mark.parametrize("scoring_attention", [None, "eager"])
def test_ratio_is_one_with_the_update_sharing_the_instruction_prefix(fast_path_model_dir, scoring_attention):
    """With the instruction first, the update's forwards share its prefix; generation attends with
    sdpa, the update with sdpa or eager."""
    check_first_ratio_after_an_update(fast_path_model_dir, instruction_first=True, scoring_attention=scoring_attention)


def test_the_scorers_attention_kernels_are_its_own_and_give_the_same_logprobs(tiny_qwen2vl_dir):
    """scoring_attn_implementation=eager: the scorer's forwards attend with eager kernels and give
    the log-probs, values and gradients of sdpa's (1e-5); the model is back on sdpa afterwards."""
    from vldac.models.families import backbone

    histories, instructions = ragged_observations(4)
    results = []
    for scoring_attention in (None, "eager"):
        torch.manual_seed(0)
        policy = build_policy(ModelSettings(path=str(tiny_qwen2vl_dir), value_head_hidden=[16],
                                            scoring_attn_implementation=scoring_attention), instruction_first=True)
        seen = []
        policy.model.get_output_embeddings().register_forward_pre_hook(
            lambda module, args: seen.append(backbone(policy.model).config._attn_implementation)
        )
        prompts = policy.prompts(histories, instructions)
        ids, mask = pad_answers([*plain_answers(policy), plain_answers(policy)[0]], policy.pad_id)
        results.append(scores_and_gradients(policy, prompts, ids, mask))
        assert seen == [scoring_attention or "sdpa"]
        assert backbone(policy.model).config._attn_implementation == "sdpa"
    assert_same_scores_and_gradients(results[1], results[0])


def test_unknown_scoring_attention_kernels_are_one_clear_sentence_at_load(tiny_qwen2vl_dir):
    with pytest.raises(ModelLoadError, match=r"model.scoring_attn_implementation=eagr cannot be used .*; use sdpa or eager"):
        build_policy(ModelSettings(path=str(tiny_qwen2vl_dir), value_head_hidden=[16], scoring_attn_implementation="eagr"))


def check_first_ratio_after_an_update(model_dir, instruction_first: bool, scoring_attention: str | None = None) -> None:
    policy = build_policy(ModelSettings(path=str(model_dir), value_head_hidden=[16], scoring_attn_implementation=scoring_attention),
                          instruction_first=instruction_first)
    envs = numberline_envs(4, history=3)
    parameters = [p for p in policy.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [{"params": parameters, "lr": 1e-2}, {"params": list(policy.value_head.parameters()), "lr": 1e-3}]
    )
    settings = AlgorithmSettings(minibatch_size=4, ppo_epochs=1)
    rng = np.random.default_rng(0)
    before = [p.detach().clone() for p in parameters]
    frame_counts = set()
    for update in range(2):
        buffer, _, _ = collect_rollout(envs, policy, RolloutSettings(1.0, 8), num_steps=3)
        records = buffer.flat_records()
        frame_counts |= {len(r.frames) for r in records}
        advantages = torch.linspace(-1, 1, len(records))
        diagnostics = ppo_update(
            policy, optimizer, parameters, UpdateBatch(records, advantages, torch.zeros(len(records))),
            settings, 1.0, value_only=False, rng=rng, ranks=Ranks("cpu"), scorer=policy.scorer,
        )
        if update == 0:
            assert any(not torch.equal(b, p) for b, p in zip(before, parameters)), "the first update must move LoRA"
    assert frame_counts == {1, 2, 3}
    # After two updates at lr 1e-2 the 30-layer SmolLM2 VLM measured 3.2e-4 (float32 rounding over
    # its depth, 2 threads); the 2-layer tiny models stay under 1e-5.
    assert diagnostics["first_ratio_error"] < (1e-5 if float32_logprob_atol(model_dir) == 1e-5 else 1e-3)
    assert diagnostics["kl"] > 0


def test_bfloat16_model_trains_float32_lora_and_value_head_with_float32_logprobs(tiny_qwen2vl_dir):
    policy = lora_policy(tiny_qwen2vl_dir, dtype="bfloat16")
    trainable = [(name, p) for name, p in policy.scorer.named_parameters() if p.requires_grad]
    assert trainable and all(p.dtype == torch.float32 for _, p in trainable), [n for n, p in trainable if p.dtype != torch.float32]
    frozen = [p for p in policy.model.parameters() if not p.requires_grad]
    assert all(p.dtype == torch.bfloat16 for p in frozen)
    histories, instructions = ragged_observations(2)
    prompts = policy.prompts(histories, instructions)
    samples = policy.sample(prompts, 1.0, 4)
    assert samples.token_logprobs.dtype == torch.float32 and samples.values.dtype == torch.float32
    logprobs, values = policy.score(prompts, samples.token_ids, samples.token_mask, 1.0)
    assert logprobs.dtype == torch.float32 and values.dtype == torch.float32


def test_full_fine_tuning_in_bfloat16_is_refused_in_one_sentence(tiny_qwen2vl_dir):
    with pytest.raises(ModelLoadError, match="use model.dtype=float32 for full fine-tuning"):
        build_policy(ModelSettings(path=str(tiny_qwen2vl_dir), finetune="full", dtype="bfloat16"))


def test_gradient_checkpointing_with_lora_gives_the_same_gradients(tiny_qwen2vl_dir):
    histories, instructions = ragged_observations(3)
    gradients = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        policy = lora_policy(tiny_qwen2vl_dir, gradient_checkpointing=checkpointing)
        prompts = policy.prompts(histories, instructions)
        ids, mask = pad_answers(plain_answers(policy), policy.pad_id)
        policy.model.train()
        logprobs, _ = policy.score(prompts, ids, mask, 1.0)
        (logprobs * mask).sum().backward()
        gradients.append({n: p.grad.clone() for n, p in policy.model.named_parameters() if p.requires_grad})
    assert gradients[0].keys() == gradients[1].keys()
    for name in gradients[0]:
        torch.testing.assert_close(gradients[0][name], gradients[1][name], atol=1e-6, rtol=1e-5)
    assert any(g.abs().sum() > 0 for g in gradients[1].values())


def test_attention_implementation_is_selectable(tiny_qwen2vl_dir):
    histories, instructions = ragged_observations(3)
    results = []
    for implementation in ("sdpa", "eager"):
        policy = lora_policy(tiny_qwen2vl_dir, attn_implementation=implementation)
        assert policy.model.config._attn_implementation == implementation
        prompts = policy.prompts(histories, instructions)
        ids, mask = pad_answers(plain_answers(policy), policy.pad_id)
        with torch.no_grad():
            results.append(policy.score(prompts, ids, mask, 1.0))
    torch.testing.assert_close(results[0][0], results[1][0], atol=1e-4, rtol=0)
    with pytest.raises(ModelLoadError, match="attention implementation it supports"):
        lora_policy(tiny_qwen2vl_dir, attn_implementation="no_such_kernel")


def test_dropout_during_rl_is_warned_about(tiny_qwen2vl_dir):
    with pytest.warns(RuntimeWarning, match="Dropout is on during RL.*lora_dropout"):
        lora_policy(tiny_qwen2vl_dir, lora=LoraSettings(dropout=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        lora_policy(tiny_qwen2vl_dir)


def test_lora_checkpoint_loads_for_eval_with_value_head(family_model_dir, tmp_path):
    policy = lora_policy(family_model_dir)
    with torch.no_grad():
        for parameter in policy.model.parameters():
            if parameter.requires_grad:
                parameter.add_(0.01)
    save_policy(policy, tmp_path / "ckpt")
    loaded = load_policy(str(tmp_path / "ckpt"))
    envs = numberline_envs(2)
    prompts = policy.prompts(envs.frame_histories(), envs.instructions())
    policy.model.eval()
    expected = policy.sample(prompts, 1.0, 6, greedy=True)
    got = loaded.sample(loaded.prompts(envs.frame_histories(), envs.instructions()), 1.0, 6, greedy=True)
    assert torch.equal(expected.token_ids, got.token_ids)
    torch.testing.assert_close(got.token_logprobs, expected.token_logprobs, atol=1e-6, rtol=0)
    torch.testing.assert_close(expected.values, got.values)


STOCK_PROCESSORS = {
    "qwen2_vl": ("Qwen2VLProcessor", "Qwen2VLVideoProcessor"),
    "qwen2_5_vl": ("Qwen2_5_VLProcessor", "Qwen2VLVideoProcessor"),
    "qwen3_vl": ("Qwen3VLProcessor", "Qwen3VLVideoProcessor"),
    "gemma3": ("Gemma3Processor", None),
    "idefics3": ("Idefics3Processor", None),
    "llava_onevision": ("LlavaOnevisionProcessor", "LlavaOnevisionVideoProcessor"),
    "internvl": ("InternVLProcessor", "InternVLVideoProcessor"),
}
"""Each family's stock processor class and (where it has one) its video processor's type."""


def test_saved_processor_names_the_familys_own_class(family_model_dir, tmp_path):
    model_type = json.loads((family_model_dir / "config.json").read_text())["model_type"]
    stock_class, video_processor = STOCK_PROCESSORS[model_type]
    policy = lora_policy(family_model_dir)
    save_policy(policy, tmp_path / "ckpt")
    processor_config = json.loads((tmp_path / "ckpt" / "processor_config.json").read_text())
    assert processor_config["processor_class"] == stock_class
    if video_processor is None:
        assert "video_processor" not in processor_config
        return
    assert processor_config["video_processor"]["video_processor_type"] == video_processor
    assert processor_config["video_processor"]["size"] == processor_config["image_processor"]["size"]
    assert json.loads((tmp_path / "ckpt" / "tokenizer_config.json").read_text())["processor_class"] == stock_class


def test_lora_adapts_only_the_language_model(family_model_dir, tmp_path):
    """The adapter's saved weights name only projections of the decoder, never of the vision tower
    or the projector, whatever the family calls them."""
    from safetensors import safe_open

    policy = lora_policy(family_model_dir)
    save_policy(policy, tmp_path / "ckpt")
    with safe_open(tmp_path / "ckpt" / "adapter_model.safetensors", "pt") as saved:
        names = list(saved.keys())
    decoder = policy.model.get_base_model().get_decoder()
    decoder_prefix = next(name for name, module in policy.model.get_base_model().named_modules() if module is decoder)
    assert len(names) == 2 * 7 * decoder.config.num_hidden_layers
    assert all(name.startswith(f"base_model.model.{decoder_prefix}.layers.") for name in names), names[:3]


def test_families_without_the_fast_paths_decline_them_explicitly(family_model_dir, capfd):
    policy = build_policy(ModelSettings(path=str(family_model_dir), value_head_hidden=[16], vision_cache_frames=1024),
                          instruction_first=True)
    declined = declined_fast_paths(policy.model)
    model_type = json.loads((family_model_dir / "config.json").read_text())["model_type"]
    fast = model_type in ("qwen2_vl", "qwen2_5_vl")
    assert (declined is None) == fast
    assert policy.scorer.share_prefix == policy.engine.share_prefix == fast
    assert (policy.scorer.vision_cache is not None) == fast and policy.engine.vision_cache is policy.scorer.vision_cache
    if not fast:
        assert f"Note: {model_type} runs without the shared prompt prefix and the vision-feature cache (" in capfd.readouterr().err


def test_checkpoints_load_with_plain_auto_processor_where_torchvision_imports(family_model_dir, tmp_path):
    """Runs only where torchvision imports (not beside the CPU torch wheel of CI)."""
    pytest.importorskip("torchvision")
    from transformers import AutoProcessor

    policy = lora_policy(family_model_dir)
    save_policy(policy, tmp_path / "ckpt")
    stock = AutoProcessor.from_pretrained(tmp_path / "ckpt")
    assert type(stock).__name__ == json.loads((tmp_path / "ckpt" / "processor_config.json").read_text())["processor_class"]
    histories, instructions = ragged_observations(3)
    ours = policy.prompts(histories, instructions)
    from vldac.models.prompts import encode_prompts

    theirs = encode_prompts(stock, histories, instructions)
    assert torch.equal(ours["input_ids"], theirs["input_ids"])
    torch.testing.assert_close(ours["pixel_values"], theirs["pixel_values"])


def test_missing_model_path_is_one_clear_sentence(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist; download the model"):
        build_policy(ModelSettings(path=str(tmp_path / "nope")))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_the_sampler_draws_from_the_tempered_distribution_minus_blocked_tokens(temperature):
    from vldac.models.engine import SampledTokenLogprobs

    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, 3.0]]).expand(200_000, -1)
    sampler = SampledTokenLogprobs(temperature, blocked_ids=(4,))
    scores = sampler(torch.zeros((200_000, 1), dtype=torch.long), logits)
    drawn = scores.argmax(-1)
    assert torch.equal(scores.isfinite().sum(-1), torch.ones(200_000, dtype=torch.long))  # only the drawn token survives
    expected = torch.softmax(logits[0, :4] / temperature, -1)
    frequencies = torch.bincount(drawn, minlength=5).double() / len(drawn)
    assert frequencies[4] == 0
    torch.testing.assert_close(frequencies[:4].float(), expected, atol=0.005, rtol=0)
    torch.testing.assert_close(sampler.logprobs()[:, 0], expected.log()[drawn], atol=1e-6, rtol=0)


def test_image_placeholders_equal_image_features_for_histories_of_1_to_4_frames(family_model_dir):
    """Every family's processor writes exactly as many image tokens as its vision tower returns
    feature rows, in one left-padded batch of prompts holding 1-4 frames each."""
    from vldac.preflight import counted_image_features

    policy = lora_policy(family_model_dir, vision_cache_frames=0)
    histories, instructions = ragged_observations(4)
    prompts = policy.prompts(histories, instructions)
    config = policy.model.config
    image_token = getattr(config, "image_token_id", None) or getattr(config, "image_token_index", None)
    placeholders = int((prompts["input_ids"] == image_token).sum())
    ids, mask = pad_answers(plain_answers(policy) + plain_answers(policy)[:1], policy.pad_id)
    with counted_image_features(policy.model) as feature_rows, torch.no_grad():
        policy.score(prompts, ids, mask, 1.0)
    assert feature_rows == [placeholders] and placeholders >= sum(len(frames) for frames in histories)
