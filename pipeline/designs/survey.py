"""Perceived-safety effects: the survey statistics as ``Effect`` rows.

The statistics live in :mod:`pipeline.methods.survey`; this module turns them
into :class:`~pipeline.results.Effect` rows, so every indicator of a study reaches ``effects.csv``, the multiplicity adjustment and
the comparative report in the same form.

Perceived safety is estimated per municipality: respondents living in its
target areas against those in its comparison areas (the targets' ``controls``),
before and after. Rows for a municipality, not a place, have an empty
``place_id``.
"""

from __future__ import annotations

import pandas as pd

from ..errors import EstimationError
from ..inputs.prepare import StudyData
from ..methods.survey import controlled_comparison, ordinal_model, share_change
from ..results import Effect
from .base import _mark_primary

#: ``place_id`` of an estimate that concerns all of a municipality's target areas.
ALL_TARGETS = ""

SURVEY_PRIMARY_RULE = (
    "the weighted logistic difference-in-differences (SMS 3) when the survey has respondents in "
    "comparison areas, otherwise the before/after change in the target areas (SMS 2)"
)


def survey_groups(data: StudyData, municipality: str) -> tuple[list[str], list[str]]:
    """The municipality's target and comparison areas that have survey respondents."""
    answered = set(data.survey.loc[data.survey["municipality"] == municipality, "place_id"])
    targets = [p.id for p in data.study.targets(municipality) if p.id in answered]
    controls = dict.fromkeys(c for p in data.study.targets(municipality) for c in p.controls)
    return targets, [c for c in controls if c in answered]


def survey_areas(data: StudyData, municipality: str) -> pd.DataFrame:
    """The municipality's respondents with an ``area`` column: ``target`` or ``comparison``.

    Respondents outside both (or without a place) are left out.
    """
    targets, controls = survey_groups(data, municipality)
    frame = data.survey[data.survey["municipality"] == municipality]
    area = frame["place_id"].map(
        {**{t: "target" for t in targets}, **{c: "comparison" for c in controls}}
    )
    return frame.assign(area=area)[area.notna()]


def survey_effects(
    data: StudyData, municipality: str
) -> tuple[list[Effect], list[tuple[str, str]]]:
    """Perceived-safety estimates for a municipality, with the designs that failed and why."""
    settings = data.study.survey
    if settings is None or data.survey is None:
        return [], []
    targets, controls = survey_groups(data, municipality)
    if not targets:
        return [], []
    indicator = settings.indicator
    common = dict(
        question=settings.question,
        before=[pd.Timestamp(w) for w in settings.before],
        after=[pd.Timestamp(w) for w in settings.after],
    )
    frame = data.survey[data.survey["municipality"] == municipality]
    effects: list[Effect] = []
    skipped: list[tuple[str, str]] = []

    def row(design: str, estimand: str, sms: int, method: str, values, notes=()) -> Effect:
        estimate, low, high, p = values
        return Effect(
            municipality=municipality,
            place_id=ALL_TARGETS,
            indicator=indicator,
            design=design,
            estimand=estimand,
            estimate=float(estimate),
            ci_low=float(low),
            ci_high=float(high),
            p_value=float(p),
            n_pre=len(settings.before),
            n_post=len(settings.after),
            sms_level=sms,
            method=method,
            notes=tuple(notes),
        )

    if controls:
        try:
            model = controlled_comparison(
                frame,
                treated=targets,
                comparison=controls,
                group_col="place_id",
                unsafe=settings.unsafe_answers,
                **common,
            )
            effects.append(
                row(
                    "survey_did",
                    "odds_ratio",
                    3,
                    "weighted logistic regression unsafe ~ area + after + treated:after, "
                    f"{model.cov_type} sandwich errors; odds ratio of treated:after",
                    (model.odds_ratio, model.ci_lower, model.ci_upper, model.p_value),
                    model.notes,
                )
            )
        except EstimationError as exc:
            skipped.append(("survey_did", str(exc)))
    target_rows = frame[frame["place_id"].isin(targets)].assign(area="target")
    try:
        change = share_change(target_rows, by="area", unsafe=settings.unsafe_answers, **common)
        result = change.table.iloc[0]
        if not result["suppressed"]:
            notes = (
                ["fewer than 30 respondents in a period: unreliable"]
                if result["unreliable"]
                else []
            )
            effects.append(
                row(
                    "survey_prepost",
                    "share_difference_pp",
                    2,
                    "weighted share unsafe after minus before in the target areas, Newcombe "
                    "interval on Kish's effective n; p from the log odds ratio",
                    (
                        result["diff_pp"],
                        result["diff_lower_pp"],
                        result["diff_upper_pp"],
                        result["p_value"],
                    ),
                    notes,
                )
            )
    except EstimationError as exc:
        skipped.append(("survey_prepost", str(exc)))
    try:
        ordinal = ordinal_model(
            frame[frame["place_id"].isin(targets + controls)],
            group_col="place_id",
            treated=targets if controls else None,
            comparison=controls or None,
            **common,
        )
        effects.append(
            row(
                "survey_ordinal",
                "cumulative_odds_ratio",
                3 if controls else 2,
                "weighted proportional-odds model of the full answer scale, "
                f"{ordinal.cov_type} sandwich errors; cumulative odds ratio of {ordinal.term}",
                (ordinal.odds_ratio, ordinal.ci_lower, ordinal.ci_upper, ordinal.p_value),
                ordinal.notes,
            )
        )
    except EstimationError as exc:
        skipped.append(("survey_ordinal", str(exc)))

    primary_design = (
        "survey_did" if any(e.design == "survey_did" for e in effects) else "survey_prepost"
    )
    effects = [
        _mark_primary(e, SURVEY_PRIMARY_RULE) if e.design == primary_design else e for e in effects
    ]
    return effects, skipped
