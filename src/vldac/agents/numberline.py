"""Language interface of NumberLine: move the current number to the target."""

from vldac.agents.base import LanguageInterface


class NumberLineInterface(LanguageInterface):
    """NumberLine's prompt and answers; the numbers themselves appear only in the frame."""

    action_names = ["-", "+"]

    def instruction(self, info: dict) -> str:
        """A short task text: it is re-encoded for every environment at every step."""
        return (
            "The image shows a target number and a current number. "
            'Move the current number to the target: "-" subtracts one, "+" adds one. '
            'Answer as {"thoughts": "target ..., current ...", "action": "-" or "+"}.'
        )

    def thoughts(self, info: dict) -> str:
        """For example ``target 3, current 1``."""
        return f"target {info['target']}, current {info['current']}"

    def state_key(self, info: dict) -> list[int]:
        """``[current, target]``."""
        return [info["current"], info["target"]]
