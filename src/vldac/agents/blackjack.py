"""Language interface of Blackjack: stand or hit against the dealer's up-card."""

from vldac.agents.base import LanguageInterface


class BlackjackInterface(LanguageInterface):
    """Blackjack's prompt and answers; the cards appear only in the frame."""

    action_names = ["stand", "hit"]

    def instruction(self, info: dict) -> str:
        """A short fixed task text: it is re-encoded for every environment at every step."""
        return (
            "Blackjack. Top row: the dealer's cards; bottom row: yours. Beat the dealer without going over 21. "
            'Answer as {"thoughts": "dealer ..., me ...", "action": "stand" or "hit"}.'
        )

    def thoughts(self, info: dict) -> str:
        """The dealer's up-card value (A for an ace) and the player's best total, e.g.
        ``dealer 7, me 15`` or ``dealer A, me soft 17`` (with a usable ace)."""
        dealer = "A" if info["dealer_value"] == 1 else str(info["dealer_value"])
        soft = "soft " if info["usable_ace"] else ""
        return f"dealer {dealer}, me {soft}{info['player_sum']}"

    def state_key(self, info: dict) -> list[int]:
        """``[player_sum, dealer_value, usable_ace]`` (ace up-card = 1, usable ace as 0 or 1)."""
        return [info["player_sum"], info["dealer_value"], int(info["usable_ace"])]
