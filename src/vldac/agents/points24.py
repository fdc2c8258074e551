"""Language interface of Points24: a formula worth 24 from four cards' values."""

from vldac.agents.base import LanguageInterface


class Points24Interface(LanguageInterface):
    """Points24's prompt and answers; the cards' values appear only in the frame, the formula
    written so far (the agent's own symbols) in the text."""

    action_names = [*(str(n) for n in range(1, 11)), "+", "-", "*", "/", "(", ")", "="]

    def instruction(self, info: dict) -> str:
        """A short task text with the formula so far: it is re-encoded at every step."""
        return (
            "Four cards; A counts 1, J, Q, K count 10. Write a formula equal to 24 using each card's value "
            f'once, one symbol per step, then "=". Formula so far: "{info["formula_text"]}". '
            'Answer as {"thoughts": "cards a, b, c, d", "action": "1".."10", "+", "-", "*", "/", "(", ")" or "="}.'
        )

    def thoughts(self, info: dict) -> str:
        """The cards' values in table order, e.g. ``cards 1, 5, 10, 4`` (a J, Q or K reads 10)."""
        return "cards " + ", ".join(str(value) for value in info["values"])

    def state_key(self, info: dict) -> list[int]:
        """The sorted card values, e.g. ``[1, 4, 5, 10]``."""
        return sorted(info["values"])
