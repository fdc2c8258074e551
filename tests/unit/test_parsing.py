"""The answer parser: tolerant of how models write JSON, strict about actions, never executes."""

import ast
import builtins
import time

import pytest

from vldac.agents.parsing import ParsedAnswer, format_answer, parse_answer

SIGNS = ["-", "+"]
NUMBERS = [str(n) for n in range(1, 11)] + ["+", "*", "="]
BLACKJACK = ["stand", "hit"]


@pytest.fixture(autouse=True)
def no_code_execution(monkeypatch):
    """Any call to eval, exec or ast.literal_eval during a test fails it."""

    def forbidden(*args, **kwargs):
        raise AssertionError("model text must never be executed")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    monkeypatch.setattr(ast, "literal_eval", forbidden)


def assert_invalid(parsed: ParsedAnswer) -> None:
    assert parsed.action is None
    assert isinstance(parsed.error, str) and parsed.error


def test_format_answer_is_canonical_and_round_trips():
    text = format_answer("target 3, current 1", "+")
    assert text == '{"thoughts": "target 3, current 1", "action": "+"}'
    expected = ParsedAnswer(action=1, thoughts="target 3, current 1", error=None)
    assert parse_answer(text, SIGNS) == expected


@pytest.mark.parametrize(
    "thoughts", ['say "hi" {not json}', "back\\slash", "line\nbreak", "naïve"]
)
def test_format_answer_escapes_and_round_trips(thoughts):
    parsed = parse_answer(format_answer(thoughts, "stand"), BLACKJACK)
    assert parsed == ParsedAnswer(action=0, thoughts=thoughts, error=None)


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"thoughts": "go up", "action": "+"}\n```',
        '```\n{"thoughts": "go up", "action": "+"}\n```',
        'Sure! Here is my answer: {"thoughts": "go up", "action": "+"} Hope that helps.',
        "{'thoughts': 'go up', 'action': '+'}",
        '{"thoughts": "go up", "action": "+",}',
        "{'thoughts': 'go up', 'action': '+',\n}",
        '   \n {"thoughts": "go up", "action": "+"}  \n ',
        '{"thoughts": "go up", "action": "  +  "}',
        '{"thoughts": "go up", "action": "\'+\'"}',
        "{\"thoughts\": \"go up\", \"action\": '\"+\"'}",
        'I won\'t stop: {"thoughts": "go up", "action": "+"}',
    ],
)
def test_tolerated_formats(text):
    assert parse_answer(text, SIGNS) == ParsedAnswer(action=1, thoughts="go up", error=None)


def test_word_actions_match_case_insensitively():
    assert parse_answer('{"thoughts": "", "action": "HIT"}', BLACKJACK).action == 1
    assert parse_answer('{"thoughts": "", "action": " Stand "}', BLACKJACK).action == 0


def test_braces_inside_thoughts_strings():
    text = '{"thoughts": "a set {1, 2} and a map {\\"x\\": {}} }", "action": "-"}'
    parsed = parse_answer(text, SIGNS)
    assert parsed.action == 0
    assert parsed.thoughts == 'a set {1, 2} and a map {"x": {}} }'


def test_escaped_quotes():
    double = parse_answer('{"thoughts": "it says \\"3\\"", "action": "+"}', SIGNS)
    assert double.thoughts == 'it says "3"' and double.action == 1
    single = parse_answer("{'thoughts': 'it\\'s \"3\"', 'action': '+'}", SIGNS)
    assert single.thoughts == "it's \"3\"" and single.action == 1


def test_last_object_with_action_wins():
    text = (
        'First try: {"thoughts": "a", "action": "-"}. Actually: {"thoughts": "b", "action": "+"}'
        ' {"note": "no action here"}'
    )
    assert parse_answer(text, SIGNS) == ParsedAnswer(action=1, thoughts="b", error=None)


def test_unknown_action_names_the_allowed_ones():
    parsed = parse_answer('{"thoughts": "hmm", "action": "up"}', SIGNS)
    assert_invalid(parsed)
    assert parsed.thoughts == "hmm"
    assert '"-"' in parsed.error and '"+"' in parsed.error and '"up"' in parsed.error


@pytest.mark.parametrize(
    "text",
    [
        '{"thoughts": "go up"}',
        '{"thoughts": "go up", "act": "+"}',
        "",
        "   \n\t ",
        "I would press plus.",
        '{"thoughts": "target 3, current 1", "action": "+',
        '{"thoughts": "target 3, cur',
        '{"thoughts": "go up" "action": "+"}',
    ],
)
def test_missing_empty_prose_truncated_malformed(text):
    assert_invalid(parse_answer(text, SIGNS))


def test_missing_action_error_message():
    parsed = parse_answer('{"thoughts": "go up"}', SIGNS)
    assert parsed.error == 'no JSON object with an "action" field was found in the answer'


@pytest.mark.parametrize("value", ["[\"+\"]", '{"a": "+"}', "true", "null", "1.0"])
def test_non_string_action_is_invalid(value):
    assert_invalid(parse_answer('{"thoughts": "x", "action": ' + value + "}", SIGNS))


def test_numeric_actions_as_int_or_string():
    assert parse_answer('{"thoughts": "", "action": "10"}', NUMBERS).action == 9
    assert parse_answer('{"thoughts": "", "action": 10}', NUMBERS).action == 9
    assert parse_answer('{"thoughts": "", "action": 7}', NUMBERS).action == 6
    assert_invalid(parse_answer('{"thoughts": "", "action": 11}', NUMBERS))
    assert_invalid(parse_answer('{"thoughts": "", "action": 1}', SIGNS))


@pytest.mark.parametrize(
    "text",
    [
        '__import__("os").system("echo hi")',
        "exec('import os')",
        '{"action": __import__("os").system("echo hi")}',
        "{" * 20_000,
        "{" * 10_000 + "}" * 10_000,
        '{"action": ' + "[" * 9_000 + '"+"' + "]" * 9_000 + "}",
        "," * 10_000 + "{" + ", " * 4_000 + "}",
        "{'" + "\\" * 9_000 + "'}",
    ],
)
def test_hostile_inputs_are_invalid_and_fast(text):
    start = time.perf_counter()
    parsed = parse_answer(text, SIGNS)
    assert time.perf_counter() - start < 1.0
    assert_invalid(parsed)


def test_answer_inside_deep_nesting_is_found_quickly():
    text = '{"a": ' * 2_500 + '{"action": "+"}' + "}" * 2_500
    start = time.perf_counter()
    assert parse_answer(text, SIGNS).action == 1
    assert time.perf_counter() - start < 1.0


def test_megabyte_of_braces_is_rejected_quickly():
    start = time.perf_counter()
    parsed = parse_answer("{" * 1_000_000, SIGNS)
    assert time.perf_counter() - start < 1.0
    assert_invalid(parsed)
    assert "longer than" in parsed.error


def test_valid_object_followed_by_code_is_only_parsed():
    expected = ParsedAnswer(action=1, thoughts=None, error=None)
    assert parse_answer('{"action": "+"} ; import os', SIGNS) == expected


def test_a_valid_answer_followed_by_many_empty_objects_is_kept():
    answer = '{"thoughts": "target is larger", "action": "+"}'
    for trailing in (1, 50, 2000):
        assert parse_answer(answer + "{}" * trailing, ["-", "+"]).action == 1
    assert parse_answer(answer + "{}" * 20 + '{"action": "-"}', ["-", "+"]).action == 0  # still the last answer
