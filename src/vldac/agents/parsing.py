"""Safe parsing of a model's answer into a Discrete action.

The expected answer is a JSON object ``{"thoughts": "...", "action": "<name>"}``.
Language models wrap it in code fences, add prose around it, use single quotes or
leave trailing commas, so the parser finds brace-balanced candidates with a small
string-aware scanner, rewrites each JSON-like candidate into strict JSON and decodes
it with ``json``. Model text is never evaluated as code.
"""

import bisect
import dataclasses
import json
import re
from dataclasses import dataclass

MAX_ANSWER_CHARS = 20_000
"""Longer answers are rejected outright, so every scan is short."""

MAX_CANDIDATES = 16
"""At most this many brace-balanced spans (the latest-starting ones) are decoded."""

_QUOTES = "\"'"
_STRIP_FROM_ACTION = " \t\r\n\"'`"


@dataclass(frozen=True)
class ParsedAnswer:
    """The outcome of parsing one answer: ``action`` is None exactly when ``error`` is set."""

    action: int | str | None
    thoughts: str | None
    error: str | None


def format_answer(thoughts: str, action_name: str) -> str:
    """Canonical answer text, e.g. ``{"thoughts": "target 3, current 1", "action": "+"}``."""
    return json.dumps({"thoughts": thoughts, "action": action_name}, ensure_ascii=False)


def parse_answer(text: str, action_names: list[str], numbered: bool = False) -> ParsedAnswer:
    """Parse ``text`` into an index of ``action_names``, or explain why it is invalid.

    Uses the last JSON-like object that has an "action" key. The action must be a
    string naming one of ``action_names`` (surrounding whitespace and quotes ignored,
    case-insensitive), or an integer whose decimal form is one of them. With ``numbered``
    (a prompt that lists the actions as "1 turn left, 2 turn right, ...") the action's number
    is accepted too: 3, "3", "3 move forward" or "3. move forward" (a number whose written
    name is another action's is invalid).
    """
    answer = _answer_object(text)
    if isinstance(answer, ParsedAnswer):
        return answer
    thoughts = answer.get("thoughts")
    thoughts = thoughts if isinstance(thoughts, str) else None
    value = answer["action"]
    if isinstance(value, int) and not isinstance(value, bool):
        name = str(value)
    elif isinstance(value, str):
        name = value.strip(_STRIP_FROM_ACTION)
    else:
        return _invalid(
            f'the "action" field must be a string, got {type(value).__name__} {json.dumps(value)}',
            thoughts,
        )
    index = _action_index(name, action_names)
    if index is None and numbered:
        index = _numbered_action_index(name, action_names)
    if index is None:
        allowed = ", ".join(json.dumps(n) for n in action_names)
        return _invalid(
            f"the action {json.dumps(value)} is not one of the allowed actions {allowed}",
            thoughts,
        )
    return ParsedAnswer(action=index, thoughts=thoughts, error=None)


def _answer_object(text: str) -> dict | ParsedAnswer:
    """The answer's last JSON-like object with an "action" field, or the invalid answer saying why
    there is none."""
    if not text.strip():
        return _invalid("the answer is empty")
    if len(text) > MAX_ANSWER_CHARS:
        return _invalid(f"the answer is longer than {MAX_ANSWER_CHARS} characters")
    answer = _last_object_with_action(text)
    if answer is None:
        return _invalid('no JSON object with an "action" field was found in the answer')
    return answer


def _invalid(error: str, thoughts: str | None = None) -> ParsedAnswer:
    return ParsedAnswer(action=None, thoughts=thoughts, error=error)


def _action_index(name: str, action_names: list[str]) -> int | None:
    """Exact match first, then one after folding case and runs of whitespace."""
    if name in action_names:
        return action_names.index(name)
    folded = [_fold(n) for n in action_names]
    if _fold(name) in folded:
        return folded.index(_fold(name))
    return None


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def parse_action_text(text: str) -> ParsedAnswer:
    """The "action" string of the answer's last JSON-like object (stripped of surrounding quotes
    and whitespace), for worlds whose actions are free text; invalid when there is none."""
    answer = _answer_object(text)
    if isinstance(answer, ParsedAnswer):
        return answer
    thoughts = answer.get("thoughts") if isinstance(answer.get("thoughts"), str) else None
    if not isinstance(answer["action"], str) or not answer["action"].strip(_STRIP_FROM_ACTION):
        return _invalid(f'the "action" field must be a non-empty string, got {json.dumps(answer["action"])}', thoughts)
    return ParsedAnswer(action=answer["action"].strip(_STRIP_FROM_ACTION), thoughts=thoughts, error=None)


def parse_command(text: str, commands: list[str]) -> ParsedAnswer:
    """Parse ``text`` into one of ``commands`` (a text world's admissible commands now), returned as
    the world spells it; invalid when it names none (as ``parse_answer``)."""
    parsed = parse_answer(text, commands)
    return parsed if parsed.action is None else dataclasses.replace(parsed, action=commands[parsed.action])


_NUMBERED = re.compile(r"(\d{1,3})\s*[.):-]?\s*(.*)", re.DOTALL)


def _numbered_action_index(name: str, action_names: list[str]) -> int | None:
    """1-based number of an action as the prompt lists it, optionally followed by its name."""
    match = _NUMBERED.fullmatch(name)
    if match is None or not 1 <= int(match.group(1)) <= len(action_names):
        return None
    index = int(match.group(1)) - 1
    written = match.group(2).strip(_STRIP_FROM_ACTION)
    if written and written.casefold() != action_names[index].casefold():
        return None
    return index


def _last_object_with_action(text: str) -> dict | None:
    """Decode candidates from the latest-starting one backwards; return the first with "action".
    Only spans holding the word action count as candidates, so trailing objects without it
    (``{}{}{}...``) cannot crowd out the answer."""
    mentions = [match.start() for match in re.finditer("action", text)]
    spans = [
        (start, end) for start, end in sorted(_brace_spans(text), reverse=True)
        if bisect.bisect_left(mentions, start) < bisect.bisect_right(mentions, end - len("action"))
    ][:MAX_CANDIDATES]
    for start, end in spans:
        try:
            value = json.loads(_to_strict_json(text[start:end]), strict=False)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict) and "action" in value:
            return value
    return None


def _brace_spans(text: str) -> list[tuple[int, int]]:
    """All balanced ``{...}`` spans as (start, end) pairs, in one linear pass.

    Quotes open strings only inside braces (an apostrophe in surrounding prose is not a
    string), and braces inside strings do not count.
    """
    spans, open_at = [], []
    quote, escaped = None, False
    for i, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char == "{":
            open_at.append(i)
        elif char == "}" and open_at:
            spans.append((open_at.pop(), i + 1))
        elif char in _QUOTES and open_at:
            quote = char
    return spans


def _to_strict_json(candidate: str) -> str:
    """Rewrite every string as a double-quoted JSON string and drop trailing commas."""
    out = []
    i, n = 0, len(candidate)
    while i < n:
        char = candidate[i]
        if char in _QUOTES:
            end = _string_end(candidate, i)
            if end is None:
                out.append(candidate[i:])
                break
            out.append(_double_quoted(candidate[i + 1 : end]))
            i = end + 1
        elif char == ",":
            j = i + 1
            while j < n and candidate[j].isspace():
                j += 1
            if j == n or candidate[j] not in "}]":
                out.append(char)
            i = j
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _string_end(text: str, start: int) -> int | None:
    """Index of the quote closing the string opened at ``start``; None if it never closes."""
    quote, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
        elif text[i] == quote:
            return i
        else:
            i += 1
    return None


def _double_quoted(body: str) -> str:
    """A JSON string literal for the body of a single- or double-quoted string."""
    out = ['"']
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and body[i + 1 : i + 2] == "'":
            out.append("'")
            i += 2
        elif char == "\\":
            out.append(body[i : i + 2])
            i += 2
        else:
            out.append('\\"' if char == '"' else char)
            i += 1
    out.append('"')
    return "".join(out)


_ACTION_KEY = re.compile(r"""["']action["']\s*:""")


def action_field_offset(text: str) -> int | None:
    """Character offset in ``text`` where the (last) "action" field begins, or None.

    RL4VLM splits an answer there: what comes before is "thoughts", the rest is the action.
    """
    matches = list(_ACTION_KEY.finditer(text[:MAX_ANSWER_CHARS]))
    return matches[-1].start() if matches else None
