"""Plain words for how sure a result is, defined once.

Every report that says "clear decrease" or "no certain change" takes the words
from here, so the same words always mean the same thing, and the glossary
explains them from the same definitions.

- *clear*: the change holds after allowing for the many comparisons the study
  makes (Holm-adjusted p below 0.05); for a single study-wide question
  (the pooled estimate), its 95 % interval excludes no change.
- *likely*: the 95 % interval excludes no change, but the change does not hold
  once the many comparisons are allowed for.
- *no certain change*: the 95 % interval includes no change.
"""

from __future__ import annotations

import math

from .i18n import t

VERDICTS = (
    "clear_decrease",
    "likely_decrease",
    "no_certain_change",
    "likely_increase",
    "clear_increase",
)
ALPHA = 0.05


def verdict(
    estimate: float,
    ci_low: float,
    ci_high: float,
    *,
    null: float,
    p_adjusted: float | None = None,
) -> str:
    """The verdict key for an estimate and its 95 % interval.

    Parameters
    ----------
    estimate, ci_low, ci_high
        The estimate and its 95 % interval.
    null
        The value meaning no change (1 for ratios, 0 for differences).
    p_adjusted
        The multiplicity-adjusted p-value, or None for an estimate that answers
        a single question of its own (then the interval decides alone).

    Returns
    -------
    str
        One of :data:`VERDICTS`; ``"no_certain_change"`` when the interval is
        missing.
    """
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (ci_low, ci_high)):
        return "no_certain_change"
    if ci_low <= null <= ci_high:
        return "no_certain_change"
    direction = "decrease" if estimate < null else "increase"
    if p_adjusted is None or (isinstance(p_adjusted, float) and math.isnan(p_adjusted)):
        return f"clear_{direction}"
    return f"{'clear' if p_adjusted < ALPHA else 'likely'}_{direction}"


def verdict_text(key: str, lang: str) -> str:
    """The verdict in words ("tydlig minskning", "no certain change" …)."""
    return t(f"verdict_{key}", lang)


def goal_judgement(share: float, low: float, high: float, goal: float) -> str:
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
