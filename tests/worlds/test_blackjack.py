"""Blackjack: gymnasium conformance, rule tables with scripted decks, seeding, frame pins,
the exact dynamic-programming expert against Monte Carlo, and the language interface."""

import hashlib
from fractions import Fraction

import gymnasium
import numpy as np
import pytest

import vldac.envs  # noqa: F401  (registers the worlds)
from tests.helpers import frames_digest, played_episode
from vldac.agents import BlackjackInterface, interface_for
from vldac.envs.cards.blackjack import (
    BlackjackEnv,
    add_card,
    dealer_final_distribution,
    dealer_finals,
    expert_action,
    hand_value,
    optimal_action,
    optimal_value,
    optimal_win_rate,
    policy_outcome,
)

ENV_ID = "vldac/Blackjack-v0"
STAND, HIT = 0, 1
MONTE_CARLO_FRAME = 28  # rendering is the cost of a Monte Carlo episode; the rules do not see it


def scripted(dealer: list[int], player: list[int], deck: list[int], **kwargs):
    """A reset env holding the given hands, whose further cards come from `deck` in order
    (drawing past its end raises StopIteration). Returns the env and the deck's iterator."""
    env = BlackjackEnv(**{"frame_size": 56, **kwargs})
    env.reset(seed=0)
    env.dealer, env.player = list(dealer), list(player)
    cards = iter(deck)
    env._draw_card = lambda: next(cards)
    return env, cards


def monte_carlo(policy, episodes: int) -> tuple[float, float, float]:
    """(mean return, its standard error, win rate) of `policy` over seeds 0..episodes-1."""
    env = BlackjackEnv(frame_size=MONTE_CARLO_FRAME)
    returns, wins = np.empty(episodes), 0
    for seed in range(episodes):
        _, infos, rewards = played_episode(env, seed, policy)
        returns[seed] = rewards[-1]
        wins += infos[-1]["success"]
    return returns.mean(), returns.std(ddof=1) / np.sqrt(episodes), wins / episodes


# --- gymnasium conformance -------------------------------------------------------------


def test_action_names_and_spaces():
    env = gymnasium.make(ENV_ID)
    assert env.unwrapped.action_names == ["stand", "hit"]
    assert env.action_space == gymnasium.spaces.Discrete(2)


# --- rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ranks, total, usable_ace",
    [
        ([10, 7], 17, False),
        ([13, 12], 20, False),  # K and Q count 10
        ([1, 6], 17, True),  # soft 17
        ([1, 10], 21, True),  # a natural
        ([1, 1], 12, True),  # only one ace can count 11
        ([1, 6, 10], 17, False),  # the ace falls back to 1
        ([1, 5, 9], 15, False),
        ([1, 1, 9], 21, True),
        ([10, 6, 9], 25, False),  # bust
        ([2, 2], 4, False),
    ],
)
def test_hand_value_table(ranks, total, usable_ace):
    assert hand_value(ranks) == (total, usable_ace)
    assert type(hand_value(ranks)[1]) is bool


@pytest.mark.parametrize(
    "dealer, player, deck, action, reward, terminated, outcome, player_sum, dealer_cards, unused",
    [
        # hit without a bust: reward 0, the dealer's hole card stays hidden
        ([10, 7], [5, 6], [9, 4], HIT, 0.0, False, None, 20, [10], [4]),
        ([10, 7], [1, 6], [10, 4], HIT, 0.0, False, None, 17, [10], [4]),  # soft 17 turns hard 17
        ([10, 7], [1, 1], [9, 4], HIT, 0.0, False, None, 21, [10], [4]),  # soft 21
        # hit and bust: -1, the dealer does not draw, its cards are shown
        ([10, 7], [10, 6], [9, 4], HIT, -1.0, True, "loss", 25, [10, 7], [4]),
        ([10, 2], [10, 10], [1, 4], HIT, 0.0, False, None, 21, [10], [4]),  # 20 + ace = 21
        # stand: the dealer draws while under 17
        ([10, 7], [10, 9], [4], STAND, 1.0, True, "win", 19, [10, 7], [4]),  # dealer stands on 17
        ([10, 6], [10, 2], [10, 4], STAND, 1.0, True, "win", 12, [10, 6, 10], [4]),  # dealer busts
        ([10, 8], [9, 9], [4], STAND, 0.0, True, "draw", 18, [10, 8], [4]),
        ([10, 9], [10, 8], [4], STAND, -1.0, True, "loss", 18, [10, 9], [4]),
        ([1, 6], [10, 8], [4], STAND, 1.0, True, "win", 18, [1, 6], [4]),  # dealer stands on soft 17
        ([10, 6], [10, 7], [1, 4], STAND, 0.0, True, "draw", 17, [10, 6, 1], [4]),  # 16 + ace = hard 17
        ([1, 5], [10, 8], [10, 2, 4], STAND, 0.0, True, "draw", 18, [1, 5, 10, 2], [4]),  # soft 16 -> 16 -> 18
        ([2, 3], [10, 10], [2, 2, 1, 4], STAND, 0.0, True, "draw", 20, [2, 3, 2, 2, 1], [4]),  # 5, 7, 9, soft 20
        ([1, 10], [1, 13], [4], STAND, 0.0, True, "draw", 21, [1, 10], [4]),  # naturals tie
        ([10, 10], [1, 12], [4], STAND, 1.0, True, "win", 21, [10, 10], [4]),  # no natural bonus: +1
        ([1, 12], [7, 7, 7], [4], STAND, 0.0, True, "draw", 21, [1, 12], [4]),  # 21 ties a natural
        ([10, 6], [10, 6], [6, 4], STAND, 1.0, True, "win", 16, [10, 6, 6], [4]),  # dealer 22 busts
    ],
)
def test_rule_table(dealer, player, deck, action, reward, terminated, outcome, player_sum, dealer_cards, unused):
    env, cards = scripted(dealer, player, deck)
    _, got_reward, got_terminated, truncated, info = env.step(action)
    assert (got_reward, got_terminated, truncated) == (reward, terminated, False)
    assert (info["outcome"], info["player_sum"], info["dealer_cards"]) == (outcome, player_sum, dealer_cards)
    assert info["success"] is (outcome == "win")
    assert (info["dealer_card"], info["dealer_value"], info["steps"]) == (dealer[0], min(dealer[0], 10), 1)
    assert list(cards) == unused  # the dealer drew exactly the cards it had to


def test_hits_then_stand_play_one_hand():
    env, cards = scripted([9, 8], [2, 3], [1, 5, 10, 4])
    assert env.step(HIT)[-1]["player_sum"] == 16  # 2 + 3 + ace (soft 16)
    assert env.step(HIT)[-1]["player_cards"] == [2, 3, 1, 5]  # soft 21
    _, reward, terminated, _, info = env.step(STAND)  # dealer stands on 17
    assert (reward, terminated, info["player_sum"], info["usable_ace"], info["steps"]) == (1.0, True, 21, True, 3)
    assert list(cards) == [10, 4]


def test_truncated_after_max_steps_only_as_a_safety_limit():
    env, _ = scripted([10, 7], [2, 2], [1] * 10)
    for step in range(1, 11):  # ten aces: 4 -> 14, never a bust
        _, reward, terminated, truncated, info = env.step(HIT)
        assert (reward, terminated, truncated, info["steps"]) == (0.0, False, step == 10, step)
    assert (info["outcome"], info["success"], info["dealer_cards"]) == (None, False, [10])


def test_step_after_the_hand_is_over_raises_clear_error():
    env, _ = scripted([10, 7], [10, 9], [])
    env.step(STAND)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(HIT)


def test_invalid_action_raises_clear_error():
    env, _ = scripted([10, 7], [10, 9], [])
    with pytest.raises(ValueError, match="not in Discrete"):
        env.step(2)


def test_deal_order_and_uniform_ranks():
    """Dealer two cards then player two, then hits, all from np_random's ranks 1..13."""
    env = BlackjackEnv(frame_size=28)
    _, info = env.reset(seed=5)
    ranks = [int(r) for r in np.random.Generator(np.random.PCG64(5)).integers(1, 14, 5)]
    assert [info["dealer_card"], *info["player_cards"]] == [ranks[0], *ranks[2:4]]
    counts = np.zeros(14, int)
    for seed in range(3000):
        env.reset(seed=seed)
        for rank in env.dealer + env.player:
            counts[rank] += 1
    assert counts[0] == 0 and np.all(np.abs(counts[1:] - 12000 / 13) < 0.12 * 12000 / 13)


def test_info_keys_and_types_every_step():
    env = BlackjackEnv(frame_size=28)
    rng = np.random.default_rng(0)
    for seed in range(300):
        _, infos, _ = played_episode(env, seed, lambda info: int(rng.integers(2)))
        for info in infos:
            assert set(info) == {
                "success", "player_cards", "player_sum", "usable_ace", "dealer_card",
                "dealer_value", "dealer_cards", "outcome", "steps",
            }
            assert type(info["success"]) is bool and type(info["usable_ace"]) is bool
            assert all(type(info[key]) is int for key in ("player_sum", "dealer_card", "dealer_value", "steps"))
            assert all(type(rank) is int and 1 <= rank <= 13 for rank in info["player_cards"] + info["dealer_cards"])
            assert (info["player_sum"], info["usable_ace"]) == hand_value(info["player_cards"])
            assert info["dealer_value"] == min(info["dealer_card"], 10) == min(info["dealer_cards"][0], 10)
        assert all(info["outcome"] is None and len(info["dealer_cards"]) == 1 for info in infos[:-1])
        assert infos[-1]["outcome"] in ("win", "draw", "loss") and len(infos[-1]["dealer_cards"]) >= 2


# --- seeding and frames ---------------------------------------------------------------------


def test_hands_of_a_seed_do_not_depend_on_frame_size():
    small, large = BlackjackEnv(frame_size=28), BlackjackEnv(frame_size=112)
    for seed in range(100):
        assert played_episode(small, seed, expert_action)[1] == played_episode(large, seed, expert_action)[1]


def test_different_seeds_give_different_frames_for_same_hand():
    env = BlackjackEnv(frame_size=84)
    frames_by_hand = {}
    for seed in range(400):
        frame, info = env.reset(seed=seed)
        frames_by_hand.setdefault((tuple(sorted(info["player_cards"])), info["dealer_card"]), []).append(frame)
    frames = max(frames_by_hand.values(), key=len)
    assert len(frames) >= 2
    assert len({hashlib.sha256(frame.tobytes()).hexdigest() for frame in frames}) == len(frames)


def test_style_is_fixed_within_an_episode_and_the_hole_card_stays_hidden():
    """Hitting redraws only the player's row: the dealer's half of the frame is unchanged."""
    env, _ = scripted([10, 7], [2, 3], [4, 5])
    first = env._draw()
    second = env.step(HIT)[0]
    half = env.frame_size // 2
    assert np.array_equal(first[:half], second[:half])
    assert not np.array_equal(first[half:], second[half:])


@pytest.mark.parametrize("frame_size", [28, 56, 112, 300])
def test_frame_size_respected_with_any_number_of_cards(frame_size):
    env, _ = scripted([10, 7], [2, 2], [1] * 10, frame_size=frame_size)  # up to twelve player cards
    assert env.observation_space.shape == (frame_size, frame_size, 3)
    frames = [env.step(HIT)[0] for _ in range(10)]
    seeded = BlackjackEnv(frame_size=frame_size)
    frames += [frame for seed in range(3) for frame in played_episode(seeded, seed, lambda info: HIT)[0]]
    for frame in frames:
        assert frame.shape == (frame_size, frame_size, 3) and frame.dtype == np.uint8


# sha256 over all frames of an expert episode. These pin the rendering: they change when the
# drawing code (here or in playing_cards/render), Pillow's built-in font (Pillow version)
# or numpy's PCG64 stream change.
PINNED_FRAMES = {
    (0, 300): "44fd67b515f6b7c3081a4316ddecc42e48fa8077841dbf6ba3c38f34d2f6154d",
    (7, 112): "e96b10072d9b969c4eda43e10b13d593cbdcd261fc8aefb41972f9713c001351",
    (123, 56): "b05332b539e1915d5c1754ba76fc1f5c152a643fe3d3f53796d877a2924a7424",
}


@pytest.mark.parametrize("seed, frame_size", sorted(PINNED_FRAMES))
def test_pinned_frames(seed, frame_size):
    frames, _, _ = played_episode(BlackjackEnv(frame_size=frame_size), seed, expert_action)
    assert frames_digest(frames) == PINNED_FRAMES[seed, frame_size]


# --- exact dynamic programming ---------------------------------------------------------


def test_dealer_distribution_hand_worked():
    """From hard 16 the dealer draws once: 17..21 with 1/13 each (ace..5), bust with 8/13."""
    assert dealer_finals(16, False) == {0: Fraction(8, 13), **{total: Fraction(1, 13) for total in range(17, 22)}}
    assert dealer_finals(17, True) == {17: 1}  # stands on soft 17
    assert dealer_finals(23, False) == {0: 1}
    assert add_card(16, True, 10) == (16, False) and add_card(5, False, 1) == (16, True)


def test_dealer_distribution_matches_published_infinite_deck_figures():
    """Dealer standing on soft 17, no peek: bust chance 42.32% under a 6, 21.21% under a 10."""
    for up_value in range(1, 11):
        assert sum(dealer_final_distribution(up_value).values()) == 1
    assert float(dealer_final_distribution(6)[0]) == pytest.approx(0.4232, abs=5e-5)
    assert float(dealer_final_distribution(10)[0]) == pytest.approx(0.2121, abs=5e-5)
    assert float(dealer_final_distribution(1)[21]) == pytest.approx(0.3616, abs=5e-5)  # 4/13 naturals + draws


def test_optimal_policy_is_basic_strategy_for_hit_or_stand():
    """The standard hit/stand chart (no doubling or splitting) for a dealer standing on soft 17."""
    up_cards = [2, 3, 4, 5, 6, 7, 8, 9, 10, 1]
    hard = {12: "HHSSSHHHHH", **{total: "SSSSSHHHHH" for total in range(13, 17)}}
    soft = {18: "SSSSSSSHHH"}
    for total in range(4, 22):
        expected = hard.get(total, "H" * 10 if total <= 11 else "S" * 10)
        got = "".join("H" if optimal_action(total, False, up) == HIT else "S" for up in up_cards)
        assert got == expected, f"hard {total}"
    for total in range(12, 22):
        expected = soft.get(total, "H" * 10 if total <= 17 else "S" * 10)
        got = "".join("H" if optimal_action(total, True, up) == HIT else "S" for up in up_cards)
        assert got == expected, f"soft {total}"


def test_exact_values():
    assert optimal_value() == pytest.approx(-0.046556, abs=1e-6)
    assert optimal_win_rate() == pytest.approx(0.429457, abs=1e-6)
    stand_return = policy_outcome(lambda *state: 0)[0]
    assert float(stand_return) == pytest.approx(-0.186368, abs=1e-6)
    assert float(policy_outcome(lambda *state: Fraction(1, 2))[1]) == pytest.approx(0.280611, abs=1e-6)


def test_expert_action_reads_info():
    info = {"player_sum": 16, "usable_ace": False, "dealer_value": 10}
    assert expert_action(info) == HIT
    assert expert_action({**info, "dealer_value": 6}) == STAND
    assert expert_action({**info, "player_sum": 18, "usable_ace": True, "dealer_value": 9}) == HIT
    with pytest.raises(ValueError, match="no live blackjack state"):
        expert_action({**info, "player_sum": 22})


# --- Monte Carlo against the exact values ---------------------------------------------


@pytest.mark.slow  # about 25 s (20,000 hands): .ci/run runs it after the default suite
def test_expert_monte_carlo_matches_the_dp_value():
    mean, standard_error, win_rate = monte_carlo(expert_action, 20_000)
    assert abs(mean - optimal_value()) < 3 * standard_error
    assert 0.42 <= win_rate <= 0.44


@pytest.mark.slow  # 10,000 hands: world statistics, in .ci/run's slow run
def test_random_play_wins_about_28_percent():
    rng = np.random.default_rng(0)
    episodes = 10_000
    _, _, win_rate = monte_carlo(lambda info: int(rng.integers(2)), episodes)
    exact = float(policy_outcome(lambda *state: Fraction(1, 2))[1])
    assert abs(win_rate - exact) < 3 * np.sqrt(exact * (1 - exact) / episodes)


@pytest.mark.slow  # 10,000 hands: world statistics, in .ci/run's slow run
def test_always_stand_returns_about_minus_0_186():
    mean, standard_error, _ = monte_carlo(lambda info: STAND, 10_000)
    assert abs(mean - (-0.186)) < 3 * standard_error


# --- language interface --------------------------------------------------------------------


def test_interface_registered_and_actions_match_the_env():
    interface = interface_for(ENV_ID)
    assert isinstance(interface, BlackjackInterface)
    assert interface.action_names == BlackjackEnv().action_names


def test_instruction_is_short_static_and_holds_no_cards():
    env = BlackjackEnv(frame_size=28)
    interface = BlackjackInterface()
    texts = {interface.instruction(env.reset(seed=seed)[1]) for seed in range(20)}
    assert len(texts) == 1
    (text,) = texts
    assert len(text) < 250 and '"stand"' in text and '"hit"' in text


@pytest.mark.parametrize(
    "info, thoughts, key",
    [
        ({"player_sum": 15, "usable_ace": False, "dealer_value": 7}, "dealer 7, me 15", [15, 7, 0]),
        ({"player_sum": 17, "usable_ace": True, "dealer_value": 1}, "dealer A, me soft 17", [17, 1, 1]),
        ({"player_sum": 20, "usable_ace": False, "dealer_value": 10}, "dealer 10, me 20", [20, 10, 0]),
    ],
)
def test_thoughts_and_state_key(info, thoughts, key):
    interface = BlackjackInterface()
    assert interface.thoughts(info) == thoughts
    assert interface.state_key(info) == key


def test_demonstration_round_trips_through_the_parser():
    interface = BlackjackInterface()
    info = {"player_sum": 13, "usable_ace": False, "dealer_value": 2}
    for action in (STAND, HIT):
        answer = interface.demonstration(info, action)
        assert answer == f'{{"thoughts": "dealer 2, me 13", "action": "{interface.action_names[action]}"}}'
        assert interface.parse(answer).action == action
    assert interface.parse('{"thoughts": "x", "action": "Hit"}').action == HIT
    assert interface.parse('{"action": "double"}').action is None
