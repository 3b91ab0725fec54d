"""Run every applicable design for every target and indicator of a municipality."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .data import StudyData
from .designs import DESIGNS, Design, DesignData
from .designs.base import cut_before_co_intervention, place_series
from .designs.panel import panel_effects
from .designs.placebo import placebo_in_time
from .designs.pooled_did import pooled_did_effect
from .designs.power import minimum_detectable_effect
from .designs.relative_effect import dispersion_from_monthly
from .errors import EstimationError
from .outcomes import ALL_TARGETS, inspection_effects, survey_effects
from .results import Effect, effects_frame
from .study import Place

PRIMARY_RULE = (
    "the highest SMS level that could be estimated, and among equals the design whose inference "
    "held its error rate on real series: the donor-pool comparison (SMS 3) when the study has at "
    "least 5 donors, then the controlled comparison (SMS 3) when the target has control areas, "
    "then the interrupted time series (SMS 2)"
)


@dataclass(frozen=True)
class Skipped:
    """A design that applied but could not be estimated, and why."""

    place_id: str
    indicator: str
    design: str
    reason: str


@dataclass(frozen=True)
class MunicipalityEvaluation:
    """All estimates for one municipality, with the designs that could not be estimated."""

    municipality: str
    effects: tuple[Effect, ...]
    skipped: tuple[Skipped, ...]

    def to_frame(self) -> pd.DataFrame:
        return effects_frame(list(self.effects))

    def primary(self) -> pd.DataFrame:
        frame = self.to_frame()
        return frame[frame["primary"]].reset_index(drop=True)

    def effect(self, place_id: str, indicator: str, design: str | None = None) -> Effect:
        """The primary (or named design's) effect for a place and indicator."""
        for effect in self.effects:
            if effect.place_id == place_id and effect.indicator == indicator:
                if (design is None and effect.primary) or effect.design == design:
                    return effect
        raise KeyError((place_id, indicator, design))


class _Frames:
    """Each place's series per indicator, split once (filtering the long frame per call is slow)."""

    def __init__(self, series: pd.DataFrame):
        self._groups = {
            key: group for key, group in series.groupby(["place_id", "indicator"], sort=False)
        }
        self._empty = series.iloc[0:0]

    def get(self, place_id: str, indicator: str) -> pd.DataFrame:
        return place_series(self._groups.get((place_id, indicator), self._empty))


def design_data(
    data: StudyData, place: Place, indicator_id: str, frames: _Frames | None = None
) -> DesignData:
    """Assemble one target's aligned series, cut before any later co-intervention."""
    study = data.study
    frames = frames or _Frames(data.series)
    start = pd.Period(place.intervention_start, freq="M")
    target = frames.get(place.id, indicator_id)
    target, notes = cut_before_co_intervention(target, place, start)
    window = target.index
    controls = {c: frames.get(c, indicator_id).reindex(window).dropna() for c in place.controls}
    buffer = frames.get(place.buffer, indicator_id).reindex(window) if place.buffer else None
    buffer_controls = {
        c: frames.get(c, indicator_id).reindex(window).dropna() for c in place.buffer_controls
    }
    donors = {}
    for donor in study.donor_pool:
        if donor in place.controls:
            continue
        frame = frames.get(donor, indicator_id).reindex(window)
        if not frame.empty and frame["value"].notna().all():
            donors[donor] = frame
    return DesignData(
        municipality=place.municipality,
        place=place,
        indicator=study.indicator(indicator_id),
        start=start,
        target=target,
        controls=controls,
        buffer=buffer,
        buffer_place=study.place(place.buffer) if place.buffer else None,
        buffer_controls=buffer_controls,
        donors=donors,
        shocks=study.shocks,
        notes=notes,
        analysis=study.analysis,
    )


def _minimum_detectable_change(inputs: DesignData) -> float:
    """Smallest decrease in % the target's counts could have shown (80 % power, 5 % level)."""
    target = inputs.target["value"].to_numpy(dtype=float)
    post = inputs.post > 0
    control = inputs.pooled_controls()
    counts = dict(target_pre=target[~post].sum(), target_post=target[post].sum())
    series = [target[~post]]
    if control is not None and not control.empty:
        c = control["value"].to_numpy(dtype=float)
        c_post = control.index >= inputs.start
        counts.update(control_pre=c[~c_post].sum(), control_post=c[c_post].sum())
        # Expected target count after the start without an effect, given the control's change.
        if counts["control_pre"] > 0:
            counts["target_post"] = (
                counts["target_pre"] * counts["control_post"] / counts["control_pre"]
            )
    if min(v for v in counts.values()) <= 0:
        return float("nan")
    try:
        mde = minimum_detectable_effect(**counts, dispersion=dispersion_from_monthly(*series))
    except ValueError:
        return float("nan")
    return float(mde.decrease_pct)


def evaluate_target(
    data: StudyData,
    place: Place,
    indicator_id: str,
    designs: tuple[Design, ...] = DESIGNS,
    frames: _Frames | None = None,
) -> tuple[list[Effect], list[Skipped]]:
    """All designs for one target and indicator.

    Among the rate-ratio estimates of each place (the target, and its buffer when
    a displacement design ran), the one with the highest SMS level is primary,
    ties going to the design listed first in ``DESIGNS``.
    """
    inputs = design_data(data, place, indicator_id, frames)
    effects: list[Effect] = []
    skipped: list[Skipped] = []
    for design in designs:
        if not design.applies(inputs):
            continue
        try:
            produced = design.estimate(inputs)
        except EstimationError as exc:
            skipped.append(Skipped(place.id, indicator_id, design.name, str(exc)))
            continue
        if getattr(design, "placebo_in_time", False) and isinstance(produced, Effect):
            p_placebo, n_placebo = placebo_in_time(design, inputs, produced)
            if n_placebo:
                produced = replace(
                    produced,
                    placebo_p_value=p_placebo,
                    notes=(
                        *produced.notes,
                        f"placebo-in-time p = {p_placebo:.2f} ({n_placebo} fake starts)",
                    ),
                )
        for effect in produced if isinstance(produced, tuple) else (produced,):
            reason = unreportable(effect)
            if reason:
                if (
                    effect.place_id == place.id
                    and inputs.target["value"][inputs.post == 0].sum() == 0
                ):
                    reason += "; the pre-period has no events"
                skipped.append(Skipped(effect.place_id, indicator_id, effect.design, reason))
                continue
            effects.append(effect)
    mde = _minimum_detectable_change(inputs)
    effects = [replace(e, mde_decrease_pct=mde) if e.place_id == place.id else e for e in effects]
    for place_id in dict.fromkeys(e.place_id for e in effects):
        candidates = [
            i
            for i, e in enumerate(effects)
            if e.place_id == place_id and e.estimand == "rate_ratio"
        ]
        if candidates:
            best = max(candidates, key=lambda i: (effects[i].sms_level, -i))
            effects[best] = replace(effects[best], primary=True, primary_rule=PRIMARY_RULE)
    return effects, skipped


# Estimands on the ratio scale: an interval reaching 0 is unbounded on the log scale.
_RATIOS = frozenset(
    {
        "rate_ratio",
        "rate_ratio_per_year",
        "relative_effect_size",
        "odds_ratio",
        "cumulative_odds_ratio",
    }
)


def unreportable(effect: Effect) -> str:
    """Why an estimate cannot be written, or ``""`` if it can.

    No output carries a non-finite estimate or interval bound: an infinite
    bound, a ratio interval reaching 0, an interval with one bound only, or
    an estimate that is not a number. Designs without an interval (the
    displacement quotient) leave both bounds empty.
    """
    values = np.array([effect.estimate, effect.ci_low, effect.ci_high], dtype=float)
    shown = f"{effect.estimate:.3g} ({effect.ci_low:.3g} to {effect.ci_high:.3g})"
    if not np.isfinite(values[0]):
        return f"no finite estimate ({shown}): {effect.method}"
    if np.isinf(values[1:]).any() or np.isnan(values[1:]).sum() == 1:
        return f"the interval is unbounded ({shown})"
    if effect.estimand in _RATIOS and (values[0] <= 0 or np.nanmin(values[1:], initial=1) <= 0):
        return f"the ratio or its interval reaches 0, unbounded on the log scale ({shown})"
    return ""


def _reportable(effects, skipped: list, indicator: str = "") -> list[Effect]:
    """The effects that can be written; the others go to ``skipped`` with the reason."""
    kept = []
    for effect in effects:
        reason = unreportable(effect)
        if reason:
            skipped.append(
                Skipped(effect.place_id, indicator or effect.indicator, effect.design, reason)
            )
        else:
            kept.append(effect)
    return kept


def _panel(data: StudyData, municipality: str, available: set, skipped: list) -> list[Effect]:
    """The municipality's targets together when there are several: the panel and the pooled
    difference-in-differences."""
    targets = data.study.targets(municipality)
    if len(targets) < 2:
        return []
    found: list[Effect] = []
    for indicator in data.study.indicators:
        if indicator.family != "count":
            continue
        with_series = [p for p in targets if (p.id, indicator.id) in available]
        if len(with_series) < 2:
            continue
        try:
            found.extend(panel_effects(data, indicator.id, with_series))
        except EstimationError as exc:
            skipped.append(Skipped(ALL_TARGETS, indicator.id, "panel", str(exc)))
        # Every target, whatever its events: the pooled estimate sparse places still get.
        try:
            found.append(pooled_did_effect(data, indicator.id, with_series))
        except EstimationError as exc:
            skipped.append(Skipped(ALL_TARGETS, indicator.id, "pooled_did", str(exc)))
    return found


def evaluate_municipality(data: StudyData, municipality: str) -> MunicipalityEvaluation:
    """Every target of ``municipality`` times every indicator its series has, the targets
    together in a panel when there are several, then the municipality's perceived safety
    (survey) and its targets' safety inspections."""
    if municipality not in data.study.municipality_names:
        raise KeyError(f"municipality '{municipality}' is not in the study")
    effects: list[Effect] = []
    skipped: list[Skipped] = []
    available = set(zip(data.series["place_id"], data.series["indicator"], strict=True))
    frames = _Frames(data.series)
    for place in data.study.targets(municipality):
        for indicator in data.study.indicators:
            if (place.id, indicator.id) not in available:
                continue
            found, missed = evaluate_target(data, place, indicator.id, frames=frames)
            effects.extend(found)
            skipped.extend(missed)
    effects.extend(_reportable(_panel(data, municipality, available, skipped), skipped))
    found, missed = survey_effects(data, municipality)
    effects.extend(_reportable(found, skipped))
    indicator = data.study.survey.indicator if data.study.survey else ""
    skipped.extend(Skipped(ALL_TARGETS, indicator, design, reason) for design, reason in missed)
    found, missed = inspection_effects(data, municipality)
    effects.extend(_reportable(found, skipped))
    indicator = data.study.inspections.indicator if data.study.inspections else ""
    skipped.extend(Skipped(place, indicator, design, reason) for place, design, reason in missed)
    return MunicipalityEvaluation(municipality, tuple(effects), tuple(skipped))
