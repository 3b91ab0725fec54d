"""Perceived-safety effects: the survey statistics as ``Effect`` rows.

The statistics live in :mod:`pipeline.methods.survey` (shares and their change),
:mod:`pipeline.methods.survey_areas` (the areas as the unit of inference) and
:mod:`pipeline.methods.survey_ordinal` (the answer scale); this module turns them
into :class:`~pipeline.results.Effect` rows, so every indicator of a study reaches
``effects.csv``, the multiplicity adjustment and the comparative report in the same form.

Perceived safety is estimated per municipality: respondents living in its
target areas against those in its comparison areas (the targets' ``controls``),
before and after. Rows for a municipality, not a place, have an empty
``place_id``.

From a survey report's shares (``survey_shares.csv``) the same area-level
difference-in-differences and before/after change are estimated; the ordinal
model needs every respondent's answer and is refused with the reason.

The local problems index (``survey.problems_index``), each respondent's mean
answer to the problem questions, has its own indicator and one design: the
area-level difference-in-differences of the weighted mean index, in points.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..inputs.prepare import StudyData
from ..methods.proportions import wilson_interval
from ..methods.survey import ShareChange, SurveyShares, share_change
from ..methods.survey_areas import (
    area_difference_in_differences,
    area_log_odds_standard_error,
    proportional_odds_check,
    shares_change,
    shares_difference_in_differences,
    t_inference,
)
from ..methods.survey_index import area_mean_difference_in_differences, respondent_index
from ..methods.survey_microdata import suppress_small_cells
from ..methods.survey_ordinal import ordinal_model
from ..results import Effect
from .base import _mark_primary

#: ``place_id`` of an estimate that concerns all of a municipality's target areas.
ALL_TARGETS = ""

SURVEY_PRIMARY_RULE = (
    "the difference-in-differences of the weighted share unsafe in percentage points (SMS 3) when "
    "the survey has respondents in comparison areas, otherwise the before/after change in the "
    "target areas (SMS 2)"
)


#: Why the ordinal model is not estimated from reported shares.
NEEDS_MICRODATA = (
    "the proportional-odds model needs every respondent's answer on the full scale; "
    "survey_shares.csv holds the reported share unsafe only"
)


def survey_table(data: StudyData) -> pd.DataFrame | None:
    """The study's survey as given: microdata, or a report's shares (None without either)."""
    return data.survey if data.survey is not None else data.survey_shares


def survey_groups(data: StudyData, municipality: str) -> tuple[list[str], list[str]]:
    """The municipality's target and comparison areas that have survey respondents."""
    frame = survey_table(data)
    answered = set(frame.loc[frame["municipality"] == municipality, "place_id"])
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
    if settings is None or survey_table(data) is None:
        return [], []
    targets, controls = survey_groups(data, municipality)
    if not targets:
        return [], []
    if data.survey is None:
        return _reported_share_effects(data, municipality, targets, controls)
    common = dict(
        question=settings.question,
        before=[pd.Timestamp(w) for w in settings.before],
        after=[pd.Timestamp(w) for w in settings.after],
    )
    frame = data.survey[data.survey["municipality"] == municipality]
    effects: list[Effect] = []
    skipped: list[tuple[str, str]] = []
    row = _effect_row(data, municipality)
    if controls:
        try:
            did = area_difference_in_differences(
                frame,
                treated=targets,
                comparison=controls,
                group_col="place_id",
                unsafe=settings.unsafe_answers,
                **common,
            )
            effects.extend(_did_effects(row, did, "weighted"))
        except EstimationError as exc:
            skipped.append(("survey_did", str(exc)))
    target_rows = frame[frame["place_id"].isin(targets)].assign(area="target")
    try:
        change = share_change(target_rows, by="area", unsafe=settings.unsafe_answers, **common)
        effects += _prepost_effects(
            row,
            change,
            "weighted share unsafe after minus before in the target areas, Newcombe "
            "interval on Kish's effective n; p from the log odds ratio",
        )
    except EstimationError as exc:
        skipped.append(("survey_prepost", str(exc)))
    try:
        effects.append(_ordinal_row(frame, targets, controls, common, row))
    except EstimationError as exc:
        skipped.append(("survey_ordinal", str(exc)))
    return _with_primary(effects), skipped


def _prepost_effects(row, change: ShareChange, method: str, notes=()) -> list[Effect]:
    """The target areas' before/after change in points; none when its cells are withheld."""
    result = change.table.iloc[0]
    if result["suppressed"]:
        return []
    if result["unreliable"]:
        notes = ("fewer than 30 respondents in a period: unreliable", *notes)
    values = (result["diff_pp"], result["diff_low_pp"], result["diff_high_pp"], result["p_value"])
    return [row("survey_prepost", "share_difference_pp", 2, method, values, notes)]


def _with_primary(effects: list[Effect]) -> list[Effect]:
    """The effects with the primary one marked: the difference-in-differences where there is
    one, else the before/after change."""
    primary_design = (
        "survey_did" if any(e.design == "survey_did" for e in effects) else "survey_prepost"
    )
    return [
        _mark_primary(e, SURVEY_PRIMARY_RULE) if e.design == primary_design else e for e in effects
    ]


def _ordinal_row(frame: pd.DataFrame, targets: list[str], controls: list[str], common: dict, row):
    """The proportional-odds model's cumulative odds ratio, with the areas' spread as its error
    when there are comparison areas, and the proportional-odds check in its notes."""
    areas = frame[frame["place_id"].isin(targets + controls)]
    groups = dict(
        group_col="place_id", treated=targets if controls else None, comparison=controls or None
    )
    ordinal = ordinal_model(areas, **groups, **common)
    notes = list(ordinal.notes)
    try:
        notes.append(proportional_odds_check(areas, **groups, **common).note())
    except EstimationError as exc:
        notes.append(str(exc))
    values = (ordinal.estimate, ordinal.ci_low, ordinal.ci_high, ordinal.p_value)
    inference = f"{ordinal.cov_type} sandwich errors"
    if controls:
        se, df = area_log_odds_standard_error(
            areas, treated=targets, comparison=controls, group_col="place_id", **common
        )
        log_or = float(np.log(ordinal.estimate))
        low, high, p = t_inference(log_or, se, df, ordinal.level)
        values = (ordinal.estimate, float(np.exp(low)), float(np.exp(high)), p)
        inference = (
            f"t on {df} degrees of freedom (areas - 2) from the spread of the areas' changes in "
            "log odds averaged over the cuts"
        )
        if df < 1:
            notes.append(
                "one target and one comparison area: how much areas vary from wave to wave "
                "cannot be estimated, so there is no interval or p-value"
            )
    return row(
        "survey_ordinal",
        "cumulative_odds_ratio",
        3 if controls else 2,
        "weighted proportional-odds model of the full answer scale, cumulative odds ratio of "
        f"{ordinal.term}; {inference}",
        values,
        notes,
    )


def _effect_row(data: StudyData, municipality: str, indicator: str | None = None):
    """A function making the municipality's survey ``Effect`` rows.

    Parameters
    ----------
    data : StudyData
    municipality : str
    indicator : str, optional
        The rows' indicator; by default the survey's perceived-safety indicator.
    """
    settings = data.study.survey
    indicator = settings.indicator if indicator is None else indicator

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

    return row


def _reported_share_effects(
    data: StudyData, municipality: str, targets: list[str], controls: list[str]
) -> tuple[list[Effect], list[tuple[str, str]]]:
    """The designs a survey report's shares allow: the area-level difference-in-differences
    and the targets' before/after change; the ordinal model is refused."""
    settings = data.study.survey
    frame = data.survey_shares[data.survey_shares["municipality"] == municipality]
    common = dict(
        question=settings.question,
        before=[pd.Timestamp(w) for w in settings.before],
        after=[pd.Timestamp(w) for w in settings.after],
    )
    row = _effect_row(data, municipality)
    effects: list[Effect] = []
    skipped: list[tuple[str, str]] = []
    if controls:
        try:
            did = shares_difference_in_differences(
                frame, treated=targets, comparison=controls, **common
            )
            effects.extend(_did_effects(row, did, "reported"))
        except EstimationError as exc:
            skipped.append(("survey_did", str(exc)))
    try:
        change, notes = shares_change(frame, areas=targets, **common)
        effects += _prepost_effects(
            row,
            change,
            "reported weighted share unsafe after minus before in the target areas, "
            "Newcombe interval on Kish's effective n (respondents / design effect); "
            "p from the log odds ratio",
            notes,
        )
    except EstimationError as exc:
        skipped.append(("survey_prepost", str(exc)))
    skipped.append(("survey_ordinal", NEEDS_MICRODATA))
    return _with_primary(effects), skipped


def reported_area_shares(data: StudyData, municipality: str) -> SurveyShares | None:
    """The reported shares pooled over the target and over the comparison areas, per wave.

    Areas are pooled by their weighted base (or respondents) and the interval
    is Wilson's on Kish's effective n, as :func:`~pipeline.methods.survey.share_unsafe`
    gives from microdata; None without reported shares for the municipality.
    """
    settings = data.study.survey
    if data.survey_shares is None or settings is None:
        return None
    targets, controls = survey_groups(data, municipality)
    frame = data.survey_shares
    frame = frame[
        (frame["municipality"] == municipality) & (frame["question"] == settings.question)
    ]
    area = frame["place_id"].map(
        {**{t: "target" for t in targets}, **{c: "comparison" for c in controls}}
    )
    frame = frame.assign(area=area)[area.notna()]
    if frame.empty:
        return None
    n = frame["respondents"].astype(float)
    base = frame["weighted_base"] if frame["weighted_base"].notna().all() else n
    deff = frame["design_effect"].fillna(1.0)
    cells = (
        frame.assign(
            n=frame["respondents"],
            sum_weight=base,
            sum_w2=deff * base**2 / n,
            sum_wy=frame["share_unsafe"] * base,
        )
        .groupby(["area", "wave"], sort=True)[["n", "sum_weight", "sum_w2", "sum_wy"]]
        .sum()
        .reset_index()
    )
    cells["n"] = cells["n"].astype(int)
    cells["share"] = cells["sum_wy"] / cells["sum_weight"]
    cells["n_eff"] = cells["sum_weight"] ** 2 / cells["sum_w2"]
    cells["deff"] = cells["n"] / cells["n_eff"]
    cells["ci_low"], cells["ci_high"] = wilson_interval(cells["share"], cells["n_eff"])
    table = cells[
        ["area", "wave", "n", "sum_weight", "n_eff", "deff", "share", "ci_low", "ci_high"]
    ]
    table = suppress_small_cells(table, "n")
    return SurveyShares(
        table.reset_index(drop=True), settings.question, (), ("area",), 0.95, "wilson"
    )


INDEX_PRIMARY_RULE = (
    "the difference-in-differences of the weighted mean local problems index, in points of the "
    "1-4 scale (SMS 3), the only design of the index"
)


def problems_index_arms(data: StudyData, municipality: str) -> pd.DataFrame | None:
    """The target and comparison areas' weighted mean index before and after (arms with
    fewer than 5 respondents withheld); None when the municipality has no such comparison."""
    settings = data.study.survey
    index = settings.problems_index if settings is not None else None
    if index is None or data.survey is None:
        return None
    targets, controls = survey_groups(data, municipality)
    if not targets or not controls:
        return None
    frame = data.survey[data.survey["municipality"] == municipality]
    scores = respondent_index(frame, index.questions, min_answered=index.required)
    try:
        return area_mean_difference_in_differences(
            scores,
            treated=targets,
            comparison=controls,
            before=[pd.Timestamp(w) for w in settings.before],
            after=[pd.Timestamp(w) for w in settings.after],
        ).arms
    except EstimationError:
        return None


def problems_index_effects(
    data: StudyData, municipality: str
) -> tuple[list[Effect], list[tuple[str, str]]]:
    """The local problems index for a municipality: its target areas against its comparison
    areas, before and after, in index points; with the design that failed and why."""
    settings = data.study.survey
    index = settings.problems_index if settings is not None else None
    if index is None or data.survey is None:
        return [], []
    targets, controls = survey_groups(data, municipality)
    if not targets:
        return [], []
    design = "survey_index_did"
    if not controls:
        return [], [(design, "the survey has no respondents in comparison areas")]
    frame = data.survey[data.survey["municipality"] == municipality]
    scores = respondent_index(frame, index.questions, min_answered=index.required)
    try:
        did = area_mean_difference_in_differences(
            scores,
            treated=targets,
            comparison=controls,
            before=[pd.Timestamp(w) for w in settings.before],
            after=[pd.Timestamp(w) for w in settings.after],
        )
    except EstimationError as exc:
        return [], [(design, str(exc))]
    notes = [*did.arm_texts(), *([did.reason] if did.reason else []), *did.notes]
    effect = _effect_row(data, municipality, index.indicator)(
        design,
        "mean_score_change",
        3,
        f"change in the weighted mean of each respondent's answers to {len(index.questions)} "
        "problem questions (1 no problem ... 4 a big problem; at least "
        f"{index.required} answered) in the target areas minus the change in the comparison "
        f"areas, points; t on {did.df} degrees of freedom (areas - 2) from the spread of the "
        "areas' own changes",
        did.values(),
        notes,
    )
    return [_mark_primary(effect, INDEX_PRIMARY_RULE)], []


def _did_effects(row, did, source: str) -> list[Effect]:
    """The area-level difference-in-differences in points (primary) and as an odds ratio.

    ``source`` is ``"weighted"`` (shares from microdata) or ``"reported"`` (a
    survey report's shares); it names the shares in each row's method.
    """
    notes = [*did.arm_texts(), *([did.reason] if did.reason else []), *did.notes]
    share = "weighted share" if source == "weighted" else "reported weighted share"
    inference = (
        f"t on {did.df} degrees of freedom (areas - 2) from the spread of the areas' own changes"
        + (
            ", which carries the area-by-wave variation and repeated respondents"
            if source == "weighted"
            else " in the reported shares"
        )
    )
    return [
        row(
            "survey_did",
            "share_difference_pp",
            3,
            f"change in the {share} unsafe in the target areas minus the change in the "
            f"comparison areas, percentage points; {inference}",
            did.values("share_difference_pp"),
            notes,
        ),
        row(
            "survey_did_odds",
            "odds_ratio",
            3,
            "ratio of the target and comparison areas' before/after odds ratios of feeling "
            f"unsafe ({source} shares); {inference}",
            did.values("odds_ratio"),
            notes,
        ),
    ]
