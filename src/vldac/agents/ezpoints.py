"""Language interface of EZPoints: a formula worth 12 from two cards' values."""

from vldac.agents.base import LanguageInterface


class EZPointsInterface(LanguageInterface):
    """EZPoints' prompt and answers; the cards' values appear only in the frame, the formula
    written so far (the agent's own symbols) in the text."""

    action_names = [*(str(n) for n in range(1, 11)), "+", "*", "="]

    def instruction(self, info: dict) -> str:
        """A short task text with the formula so far: it is re-encoded at every step."""
        return (
            "Two cards; J, Q, K count 10. Write a formula equal to 12 using each card's value once, "
            f'one symbol per step, then "=". Formula so far: "{info["formula_text"]}". '
            'Answer as {"thoughts": "cards a and b", "action": "1".."10", "+", "*" or "="}.'
        )

    def thoughts(self, info: dict) -> str:
        """The cards' values in table order, e.g. ``cards 10 and 2`` (a J, Q or K reads 10)."""
        first, second = info["values"]
        return f"cards {first} and {second}"

    def state_key(self, info: dict) -> list[int]:
        """The sorted card values, e.g. ``[2, 10]``."""
        return sorted(info["values"])
