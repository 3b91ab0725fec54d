"""The key findings a report opens with: each result in fixed plain words, then its numbers.

Three kinds of finding, in the order a reader asks for them: the programme-level
result (all target places together), each municipality's confirmatory outcome
(the study's first indicator at each target place) with, in a municipality's
own report, its perceived safety, and each action plan's implementation against
the programme's goal. The words come from
:mod:`pipeline.report.words`, so both reports say the same thing of the same
estimate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..evaluation.study import Hypotheses
from ..format import number, p_text
from ..inputs.study import Study
from .i18n import t
from .words import goal_reached, verdict

#: Estimands read as a per cent change from a ratio.
_PERCENT_ESTIMANDS = frozenset({"rate_ratio"})
#: Ratios shown as they are (no change is 1).
_PLAIN_RATIOS = frozenset(
    {"odds_ratio", "cumulative_odds_ratio", "relative_effect_size", "displacement_quotient"}
)


def keep_together(text: str) -> str:
    """Non-breaking spaces where a line break would split a number from its sign or unit."""
    return (
        text.replace(" %", "\u00a0%")
        .replace("p = ", "p\u00a0=\u00a0")
        .replace("p < ", "p\u00a0<\u00a0")
        .replace(" till ", "\u00a0till\u00a0")
        .replace(" to ", "\u00a0to\u00a0")
    )


@dataclass(frozen=True)
class Finding:
    """One line of the key findings: what it is about, the verdict's words, the numbers."""

    label: str
    words: str
    numbers: str
    note: str = ""


@dataclass(frozen=True)
class FindingGroup:
    """Findings under one heading (a municipality, or the programme)."""

    heading: str
    findings: tuple[Finding, ...]


def confirmatory_indicator(study: Study) -> str | None:
    """The indicator every headline speaks of: the study's declared confirmatory indicator
    (``analysis.confirmatory``; by default its first count indicator)."""
    return Hypotheses.of(study).indicator


def confirmatory_rows(effects: pd.DataFrame) -> pd.DataFrame:
    """The confirmatory family's rows of ``effects`` (their ``p_adjusted`` is Holm's within it,
    as the study-level step computes it), with ``p_family`` for the findings."""
    family = effects[effects["family"] == "confirmatory"].copy()
    family["p_family"] = family["p_adjusted"]
    return family.reset_index(drop=True)


def signed(value: float, lang: str, digits: int) -> str:
    text = number(value, lang, digits)
    return text if text.startswith(("-", "−")) or text.strip("0,.") == "" else "+" + text


def percent_change(ratio: float, lang: str) -> str:
    """A ratio as a signed per cent change (0.82 → "−18 %")."""
    return f"{signed(100 * (ratio - 1), lang, 0)} %"


def interval_text(low: float, high: float, lang: str, *, ratio: bool) -> str:
    """A 95 % interval, as per cent changes for ratios."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return t("not_defined", lang)
    if ratio:
        return t(
            "interval_percent",
            lang,
            low=signed(100 * (low - 1), lang, 0),
            high=signed(100 * (high - 1), lang, 0),
        )
    return t("interval_plain", lang, low=number(low, lang, 1), high=number(high, lang, 1))


def change_words(estimand: str, estimate: float, lang: str) -> str:
    """The estimate as a reader takes it in: per cent, percentage points, points, or the ratio."""
    if estimand in _PERCENT_ESTIMANDS:
        return percent_change(estimate, lang)
    if estimand in _PLAIN_RATIOS:
        return t(f"value_{estimand}", lang, value=number(estimate, lang, 2))
    if estimand == "share_difference_pp":
        return t("change_pp", lang, value=signed(estimate, lang, 1))
    if estimand == "mean_score_change":
        return t("change_points", lang, value=signed(estimate, lang, 1))
    return signed(estimate, lang, 2)


def effect_finding(
    label: str,
    *,
    estimand: str,
    estimate: float,
    ci_low: float,
    ci_high: float,
    p_adjusted: float,
    lang: str,
    better: str = "lower",
    p_key: str = "p_adjusted_text",
) -> Finding:
    """One estimate in words (its verdict) and numbers (change, interval, the p that decided).

    ``better`` (``"lower"`` or ``"higher"``) says which way is an improvement; a
    change with a direction is then called better or worse as well.
    """
    ratio = estimand in _PERCENT_ESTIMANDS or estimand in _PLAIN_RATIOS
    null = 1.0 if ratio else 0.0
    result = verdict(ci_low=ci_low, ci_high=ci_high, p_adjusted=p_adjusted, null=null)
    if estimand in _PERCENT_ESTIMANDS:
        interval = interval_text(ci_low, ci_high, lang, ratio=True)
    elif estimand in _PLAIN_RATIOS and np.isfinite(ci_low) and np.isfinite(ci_high):
        interval = t(
            "interval_plain", lang, low=number(ci_low, lang, 2), high=number(ci_high, lang, 2)
        )
    else:
        interval = interval_text(ci_low, ci_high, lang, ratio=False)
    numbers = t(
        "finding_numbers",
        lang,
        change=change_words(estimand, estimate, lang),
        interval=interval,
        p=t(p_key, lang, p=p_text(p_adjusted, lang)),
    )
    improved = result.better(better)
    note = "" if improved is None else t("better" if improved else "worse", lang)
    return Finding(
        label=label, words=t(result.key, lang), numbers=keep_together(numbers), note=note
    )


def settled_without_adjustment(
    estimand: str, ci_low: float, ci_high: float, p_value: float, alpha: float = 0.05
) -> bool:
    """Whether an estimate's word is the same whatever its family's adjustment makes of ``p_value``.

    An adjustment (Holm, Benjamini-Hochberg) never lowers a p-value, so the word
    is settled when the interval includes no change ("no certain change") or
    ``p_value`` is already ``alpha`` or more ("probable"); only a change "clear"
    before the adjustment needs the adjusted p-value.
    """
    ratio = estimand in _PERCENT_ESTIMANDS or estimand in _PLAIN_RATIOS
    result = verdict(
        ci_low=ci_low, ci_high=ci_high, p_adjusted=p_value, null=1.0 if ratio else 0.0, alpha=alpha
    )
    return result.strength != "clear"


def survey_finding(finding: Finding, shares_text: str, lang: str) -> Finding:
    """A perceived-safety finding as people answered: the share unsafe in target and comparison
    areas, in percentage points, first; the model's estimate (``finding``'s numbers) after them.

    ``shares_text`` is :func:`pipeline.report.sections.survey_change_text`; without
    it (a suppressed cell, a single wave) the finding keeps the model's numbers.
    """
    if not shares_text:
        return finding
    model = t("model_estimate", lang, numbers=finding.numbers)
    return replace(
        finding,
        numbers=keep_together(shares_text.rstrip(".")),
        note=f"{model} {finding.note}".strip(),
    )


def implementation_finding(row, lang: str) -> Finding:
    """An action plan's share done or started at its last follow-up, against the goal."""
    reached = goal_reached(int(row.k), int(row.n))
    numbers = t(
        "implementation_numbers",
        lang,
        share=number(100 * row.share, lang, 0),
        k=int(row.k),
        n=int(row.n),
        horizon=int(row.horizon_months),
        low=number(100 * row.wilson_lower, lang, 0),
        high=number(100 * row.wilson_upper, lang, 0),
    )
    return Finding(
        label=t("finding_implementation", lang),
        words=t("goal_reached" if reached else "goal_not_reached", lang),
        numbers=keep_together(numbers),
    )


def last_horizon(implementation: pd.DataFrame, municipality: str):
    """The municipality's implementation row at the latest horizon, or None."""
    if implementation is None or implementation.empty:
        return None
    rows = implementation[
        (implementation["municipality"] == municipality)
        & (implementation["horizon_months"] == implementation["horizon_months"].max())
        & (implementation["n"] > 0)
    ]
    return next(rows.itertuples(index=False), None)


def municipality_findings(
    municipality: str,
    family: pd.DataFrame,
    implementation: pd.DataFrame | None,
    place_name,
    lang: str,
    perceived_safety: Finding | None = None,
) -> tuple[Finding, ...]:
    """A municipality's confirmatory outcome at each target place, its perceived safety when
    given, then its implementation."""
    findings = [
        effect_finding(
            place_name(row.place_id),
            estimand=row.estimand,
            estimate=row.estimate,
            ci_low=row.ci_low,
            ci_high=row.ci_high,
            p_adjusted=row.p_family,
            lang=lang,
        )
        for row in family[family["municipality"] == municipality].itertuples(index=False)
    ]
    if perceived_safety is not None:
        findings.append(perceived_safety)
    last = last_horizon(implementation, municipality)
    if last is not None:
        findings.append(implementation_finding(last, lang))
    return tuple(findings)
