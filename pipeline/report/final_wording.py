"""How the final report writes a result: changes, intervals, verdicts and dates.

A ratio is written as a per cent change, an odds ratio as it is, a difference
in its unit; every interval in the same unit as its estimate; the verdict in
the fixed words every report uses (:mod:`.words`).
"""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from ..format import number
from .i18n import t
from .words import verdict, verdict_text

#: Estimands read as ratios (no change = 1); the others are differences (no change = 0).
RATIO_ESTIMANDS = frozenset(
    {"rate_ratio", "relative_effect_size", "odds_ratio", "cumulative_odds_ratio"}
)
ODDS_ESTIMANDS = frozenset({"odds_ratio", "cumulative_odds_ratio"})


def is_missing(value: float) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# A no-break space keeps "95 %" on one line.
NBSP = "\u00a0"


def percent(value: float, lang: str, digits: int = 0) -> str:
    return f"{number(100 * value, lang, digits)}{NBSP}%"


def signed_percent_change(ratio: float, lang: str) -> str:
    change = 100 * (ratio - 1)
    # A change that rounds to 0 % but is not 0 keeps a decimal, so an interval that
    # barely excludes no change never reads "to ±0 %".
    digits = 0 if abs(change) >= 0.5 or change == 0 else 1
    text = number(abs(change), lang, digits)
    if float(text.replace(",", ".")) == 0:
        return f"±0{NBSP}%"
    return ("+" if change > 0 else "−") + text + f"{NBSP}%"


def signed(value: float, lang: str, digits: int) -> str:
    text = number(abs(value), lang, digits)
    if float(text.replace(",", ".")) == 0:
        return "±" + text
    return ("+" if value > 0 else "−") + text


def change_and_interval(estimand: str, estimate: float, low: float, high: float, lang: str):
    """The estimate as a change a reader takes in, and its interval in the same unit."""
    if estimand in ODDS_ESTIMANDS:
        # An odds ratio is shown as it is: a per cent change in the odds reads as a
        # change in the share, which it is not.
        return (
            t("final_odds_ratio", lang, value=number(estimate, lang)),
            "–"
            if is_missing(low)
            else t("final_interval", lang, low=number(low, lang), high=number(high, lang)),
        )
    if estimand in RATIO_ESTIMANDS:
        change = signed_percent_change(estimate, lang)
        interval = (
            "–"
            if is_missing(low)
            else t(
                "final_interval",
                lang,
                low=signed_percent_change(low, lang),
                high=signed_percent_change(high, lang),
            )
        )
        return change, interval
    unit = {"share_difference_pp": "final_unit_pp", "mean_score_change": "final_unit_points"}
    key = unit.get(estimand, "final_unit_none")
    return (
        t(key, lang, value=signed(estimate, lang, 1)),
        # The unit once, beside the change: the interval's bounds are in the same unit.
        "–"
        if is_missing(low)
        else t("final_interval", lang, low=signed(low, lang, 1), high=signed(high, lang, 1)),
    )


def null_value(estimand: str) -> float:
    return 1.0 if estimand in RATIO_ESTIMANDS else 0.0


def row_verdict(row, lang: str, *, adjusted: bool = True) -> str:
    """The row's verdict in the words both reports use (:mod:`pipeline.report.words`).

    ``adjusted=False`` for an estimate that answers a single question of its own (the
    pooled estimates): its own p-value decides, not one adjusted for a family.
    """
    column = "p_adjusted" if adjusted else "p_value"
    p = row[column] if column in row and not is_missing(row[column]) else math.nan
    result = verdict(
        ci_low=float(row["ci_low"]),
        ci_high=float(row["ci_high"]),
        p_adjusted=float(p),
        null=null_value(row["estimand"]),
    )
    return verdict_text(result, lang)


def iso_date(value: dt.date | str) -> str:
    return pd.Timestamp(value).date().isoformat()
