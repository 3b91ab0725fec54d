"""The plain words a report uses for a result, each with one fixed meaning.

Both reports call these functions, so "clear decrease" means the same thing
wherever it is written, and the reader's guide (``verdict_definition_*`` in the
string catalogue) explains each word once.

The rules:

=====================  =====================================================
word                   meaning
=====================  =====================================================
clear decrease         the 95 % interval lies below no change, and the p-value
(increase)             adjusted for the family of comparisons the claim
                       belongs to is below 0.05
likely decrease        the 95 % interval lies below no change, but after the
(increase)             adjustment p is 0.05 or more
no certain change      the 95 % interval includes no change
goal reached           more than half of the action plan's measures done or
                       started at the last follow-up
=====================  =====================================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: The level below which an adjusted p-value makes a change "clear".
ALPHA = 0.05
#: The programme's goal: more than this share of each action plan done or started.
IMPLEMENTATION_GOAL = 0.5

STRENGTHS = ("clear", "likely", "none")
DIRECTIONS = ("decrease", "increase")


@dataclass(frozen=True)
class Verdict:
    """How strong a change is (``clear``, ``likely``, ``none``) and which way it goes."""

    strength: str
    direction: str | None  # None when there is no certain change

    @property
    def key(self) -> str:
        """The string-catalogue key of the verdict's words (``verdict_clear_decrease`` …)."""
        if self.strength == "none":
            return "verdict_none"
        return f"verdict_{self.strength}_{self.direction}"

    def better(self, better: str) -> bool | None:
        """Whether the change is an improvement for an indicator where ``better`` is
        ``"lower"`` or ``"higher"``; None when there is no certain change."""
        if self.direction is None:
            return None
        return (self.direction == "decrease") == (better == "lower")


def verdict(
    *, ci_low: float, ci_high: float, p_adjusted: float, null: float, alpha: float = ALPHA
) -> Verdict:
    """The verdict on one estimate.

    Parameters
    ----------
    ci_low, ci_high
        The estimate's 95 % interval.
    p_adjusted
        Its p-value adjusted for the family of comparisons the claim belongs to
        (the p-value itself for a single pre-specified comparison).
    null
        The value of no change: 1 for ratios, 0 for differences.
    alpha
        The level an adjusted p-value must be below for a "clear" change.

    Returns
    -------
    Verdict
        ``none`` when the interval is undefined or includes ``null``.
    """
    if not (math.isfinite(ci_low) and math.isfinite(ci_high)):
        return Verdict("none", None)
    if ci_high < null:
        direction = "decrease"
    elif ci_low > null:
        direction = "increase"
    else:
        return Verdict("none", None)
    clear = math.isfinite(p_adjusted) and p_adjusted < alpha
    return Verdict("clear" if clear else "likely", direction)


def goal_reached(k: int, n: int, goal: float = IMPLEMENTATION_GOAL) -> bool:
    """Whether more than ``goal`` of an action plan's ``n`` measures (``k``) were done or started."""
    if n <= 0:
        raise ValueError("an action plan without measures has no implementation share")
    return k / n > goal


def verdict_text(result: Verdict, lang: str) -> str:
    """The verdict in words ("tydlig minskning", "no certain change" …)."""
    from .i18n import t

    return t(result.key, lang)


def goal_judgement(share: float, low: float, high: float, goal: float = IMPLEMENTATION_GOAL) -> str:
    """Whether more than ``goal`` of the measures were done or started, and how sure that is.

    Returns
    -------
    str
        ``"met"`` (the whole interval above the goal), ``"met_uncertain"`` (the
        share above it, the interval not), ``"not_met"`` (the share at or below
        it) or ``"unknown"`` (nothing followed up).
    """
    if share != share:  # NaN: no measure followed up
        return "unknown"
    if share <= goal:
        return "not_met"
    return "met" if low > goal else "met_uncertain"
