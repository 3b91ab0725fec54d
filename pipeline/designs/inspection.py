"""Inspection effects: the before/after change of a place's inspection scores as an ``Effect`` row.

The statistics live in :mod:`pipeline.methods.inspection`; this module turns
them into :class:`~pipeline.results.Effect` rows so inspections reach
``effects.csv``, the multiplicity adjustment and the comparative report in the
same form as every other indicator.
"""

from __future__ import annotations

from ..errors import EstimationError
from ..inputs.prepare import StudyData
from ..methods.inspection import inspection_change
from ..results import Effect
from .base import _mark_primary

INSPECTION_PRIMARY_RULE = "the only design for an inspection: before/after at the place (SMS 2)"


def inspection_effects(
    data: StudyData, municipality: str
) -> tuple[list[Effect], list[tuple[str, str, str]]]:
    """The mean change per aspect at each inspected target, with its exact interval and test."""
    settings = data.study.inspections
    if settings is None or data.inspections is None:
        return [], []
    effects: list[Effect] = []
    skipped: list[tuple[str, str, str]] = []
    inspected = set(data.inspections["place_id"])
    for place in data.study.targets(municipality):
        if place.id not in inspected:
            continue
        try:
            change = inspection_change(data.inspections, place_id=place.id)
        except EstimationError as exc:
            skipped.append((place.id, "inspection", str(exc)))
            continue
        effect = Effect(
            municipality=municipality,
            place_id=place.id,
            indicator=settings.indicator,
            design="inspection",
            estimand="mean_score_change",
            estimate=float(change.mean_change),
            ci_low=float(change.ci_low),
            ci_high=float(change.ci_high),
            p_value=float(change.permutation_p_value),
            n_pre=1,
            n_post=1,
            sms_level=2,
            method=(
                f"mean change over {len(change.table)} aspects ({change.before.date()} to "
                f"{change.after.date()}); exact sign-flip test and its inverted interval"
            ),
            notes=(f"Wilcoxon signed-rank p = {change.wilcoxon_p_value:.3f}",),
        )
        effects.append(_mark_primary(effect, INSPECTION_PRIMARY_RULE))
    return effects, skipped
