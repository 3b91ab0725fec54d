"""Run every applicable design for every target and indicator of a municipality.

One module (just over 500 lines): building each design's inputs, running the designs, the
parts a run spreads over worker processes, and the stored evaluation those parts make.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..checks.placebo import placebo_in_time
from ..checks.power import detectable_decrease_from_interval
from ..designs import DESIGNS, Design, DesignData
from ..designs.base import cut_before_co_intervention, place_series
from ..designs.inspection import inspection_effects
from ..designs.panel import panel_effects
from ..designs.pooled_did import pooled_did_effect
from ..designs.survey import ALL_TARGETS, problems_index_effects, survey_effects
from ..errors import EstimationError
from ..inputs.prepare import StudyData
from ..inputs.study import Place
from ..methods.drift import placebo_note
from ..outputs import read_csv, write_csv
from ..results import EFFECT_COLUMNS, Effect, effects_frame
from ..run import cache
from ..run.paths import (
    EFFECTS_FILE,
    EVALUATION_FILE,
    KEY_FILE,
    PROVENANCE_FILE,
    STUDY_KEY_FILE,
)
from ..run.provenance import code_version, package_versions
from .study import assign_families

PRIMARY_RULE = (
    "the highest SMS level that could be estimated with inference that held its error rate on "
    "real series, Brå's and the held-out London and US series: the donor-pool comparison (SMS 3) "
    "when the study has at least 5 donors, then the controlled comparison (SMS 3) when the target "
    "has control areas; no design without comparison areas held on the held-out series (the time "
    "series with its drift model, its rank test against fake starts, pre/post), so a target "
    "without them has no primary estimate; for a proportion, the comparison with the "
    "comparison areas (SMS 3), then the target's before and after (SMS 2)"
)
#: Designs whose inference did not hold on the held-out real series: reported, never primary.
NEVER_PRIMARY = frozenset({"its", "its_rank", "prepost", "its_slope"})


#: An interval whose upper/lower ratio exceeds this is refused, not written as an estimate.
MAX_INTERVAL_RATIO = 100.0
#: The estimands a primary estimate is chosen among: a count's rate ratio, a proportion's odds ratio.
PRIMARY_ESTIMANDS = ("rate_ratio", "odds_ratio")


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


def evaluation_frames(data: StudyData) -> _Frames:
    """The study's series split by place and indicator, shared by the parts of evaluations."""
    return _Frames(data.series)


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


def _minimum_detectable_change(effect: Effect, inputs: DesignData) -> float:
    """Smallest decrease in % this design could have detected (80 % power, its own test level).

    Computed from the design's own interval, so it carries everything that
    widens it (dispersion, trend, drift term, the reference distribution);
    the target's post-period count says how much of its variance a decrease
    would grow.
    """
    if inputs.indicator.family != "count":
        return float("nan")  # the calculation is for counts; a share's values do not add up
    share = 0.0
    if effect.place_id == inputs.place.id and effect.ci_low > 0 and effect.ci_high > 0:
        post = inputs.target.loc[inputs.target.index >= inputs.start, "value"].sum()
        crit = stats.norm.ppf(0.5 + effect.level / 2)
        se = (np.log(effect.ci_high) - np.log(effect.ci_low)) / (2 * crit)
        share = 1.0 if post <= 0 or se <= 0 else min(1.0, 1 / post / se**2)
    return detectable_decrease_from_interval(
        effect.ci_low, effect.ci_high, level=effect.level, post_share=share
    )


def _refusal(effect: Effect) -> str:
    """Why a ratio estimate must not be written as an estimate; empty when it may."""
    if effect.estimand not in ("rate_ratio", "rate_ratio_per_year", "odds_ratio"):
        return ""
    bounds = np.array([effect.estimate, effect.ci_low, effect.ci_high], dtype=float)
    if not np.isfinite(bounds).all() or not (bounds > 0).all():
        return "the fit did not converge (no finite estimate and interval)"
    if effect.ci_high / effect.ci_low > MAX_INTERVAL_RATIO:
        return (
            f"the interval {effect.ci_low:.3g}-{effect.ci_high:.3g} spans more than a factor "
            f"{MAX_INTERVAL_RATIO:g}: too few events or too short a series for an estimate"
        )
    return ""


def evaluate_target(
    data: StudyData,
    place: Place,
    indicator_id: str,
    designs: tuple[Design, ...] = DESIGNS,
    frames: _Frames | None = None,
) -> tuple[list[Effect], list[Skipped]]:
    """All designs for one target and indicator.

    Among the rate-ratio estimates of each place (the target, and its buffer when
    a displacement design ran) from designs that may be primary (not in
    ``NEVER_PRIMARY``), the one with the highest SMS level is primary, ties
    going to the design listed first in ``DESIGNS``. A place may have none.
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
                    placebo_p_min=1 / (n_placebo + 1),
                    notes=(
                        *produced.notes,
                        placebo_note("in-time", p_placebo, 1 / (n_placebo + 1), n_placebo),
                    ),
                )
        for effect in produced if isinstance(produced, tuple) else (produced,):
            refused = _refusal(effect) or unreportable(effect)
            if refused:
                if (
                    effect.place_id == place.id
                    and inputs.target["value"][inputs.post == 0].sum() == 0
                ):
                    refused += "; the pre-period has no events"
                skipped.append(Skipped(effect.place_id, indicator_id, effect.design, refused))
                continue
            effects.append(effect)
    effects = [
        replace(e, mde_decrease_pct=_minimum_detectable_change(e, inputs))
        if e.estimand == "rate_ratio"
        else e
        for e in effects
    ]
    for place_id in dict.fromkeys(e.place_id for e in effects):
        candidates = [
            i
            for i, e in enumerate(effects)
            if e.place_id == place_id
            and e.estimand in PRIMARY_ESTIMANDS
            and e.design not in NEVER_PRIMARY
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


def municipality_panel(
    data: StudyData,
    municipality: str,
    available: set,
    skipped: list,
    indicators: list[str] | None = None,
    pooled: bool = True,
) -> list[Effect]:
    """The municipality's targets together when there are several: the panel and (with
    ``pooled``) the pooled difference-in-differences, for ``indicators`` (default: every count
    indicator)."""
    targets = data.study.targets(municipality)
    if len(targets) < 2:
        return []
    found: list[Effect] = []
    for indicator in data.study.indicators:
        if indicator.family != "count" or (
            indicators is not None and indicator.id not in indicators
        ):
            continue
        with_series = [p for p in targets if (p.id, indicator.id) in available]
        if len(with_series) < 2:
            continue
        try:
            produced = panel_effects(data, indicator.id, with_series)
        except EstimationError as exc:
            # The panel needs a year before each start and events on both sides; the
            # pooled design below does not, so its row is still made.
            skipped.append(Skipped(ALL_TARGETS, indicator.id, "panel", str(exc)))
            produced = []
        for effect in produced:
            refused = _refusal(effect)
            if refused:
                place_id = effect.place_id or ALL_TARGETS
                skipped.append(Skipped(place_id, indicator.id, effect.design, refused))
            else:
                found.append(effect)
        # Every target, whatever its events: the pooled estimate sparse places still get.
        if pooled:
            try:
                found.append(pooled_did_effect(data, indicator.id, with_series))
            except EstimationError as exc:
                skipped.append(Skipped(ALL_TARGETS, indicator.id, "pooled_did", str(exc)))
    return found


@dataclass(frozen=True)
class Part:
    """One independent piece of a municipality's evaluation, which any worker can compute.

    ``kind`` is ``"target"`` (every design for one target and indicator),
    ``"panel"`` (the municipality's targets together, for one count indicator),
    ``"survey"``, ``"problems_index"`` or ``"inspection"``.
    """

    kind: str
    place_id: str = ""
    indicator: str = ""


def _available(data: StudyData) -> set[tuple[str, str]]:
    return set(zip(data.series["place_id"], data.series["indicator"], strict=True))


def evaluation_parts(data: StudyData, municipality: str) -> tuple[Part, ...]:
    """The pieces of ``municipality``'s evaluation, in the order their results are listed."""
    if municipality not in data.study.municipality_names:
        raise KeyError(f"municipality '{municipality}' is not in the study")
    available = _available(data)
    targets = [
        Part("target", place.id, indicator.id)
        for place in data.study.targets(municipality)
        for indicator in data.study.indicators
        if (place.id, indicator.id) in available
    ]
    # One panel part per count indicator: the panels are the longest parts, and apart they
    # spread over the workers and are computed again only for an indicator whose rows changed.
    panels = [
        Part("panel", indicator=indicator.id)
        for indicator in data.study.indicators
        if indicator.family == "count" and len(data.study.targets(municipality)) >= 2
    ]
    return (*targets, *panels, Part("survey"), Part("problems_index"), Part("inspection"))


def evaluate_part(
    data: StudyData, municipality: str, part: Part, frames: _Frames | None = None
) -> tuple[tuple[Effect, ...], tuple[Skipped, ...]]:
    """The effects and skipped designs of one piece of a municipality's evaluation."""
    skipped: list[Skipped] = []
    if part.kind == "target":
        found, skipped = evaluate_target(
            data, data.study.place(part.place_id), part.indicator, frames=frames
        )
    elif part.kind == "panel":
        panel = municipality_panel(
            data, municipality, _available(data), skipped, indicators=[part.indicator]
        )
        found = _reportable(panel, skipped)
    elif part.kind == "survey":
        produced, missed = survey_effects(data, municipality)
        found = _reportable(produced, skipped)
        indicator = data.study.survey.indicator if data.study.survey else ""
        skipped.extend(Skipped(ALL_TARGETS, indicator, d, reason) for d, reason in missed)
    elif part.kind == "problems_index":
        produced, missed = problems_index_effects(data, municipality)
        found = _reportable(produced, skipped)
        index = data.study.survey.problems_index if data.study.survey else None
        indicator = index.indicator if index else ""
        skipped.extend(Skipped(ALL_TARGETS, indicator, d, reason) for d, reason in missed)
    elif part.kind == "inspection":
        produced, missed = inspection_effects(data, municipality)
        found = _reportable(produced, skipped)
        indicator = data.study.inspections.indicator if data.study.inspections else ""
        skipped.extend(Skipped(place, indicator, d, reason) for place, d, reason in missed)
    else:
        raise ValueError(f"unknown part of an evaluation: {part.kind!r}")
    return tuple(found), tuple(skipped)


def assemble(municipality: str, results) -> MunicipalityEvaluation:
    """One evaluation from its parts' results, listed in the parts' order."""
    results = list(results)
    return MunicipalityEvaluation(
        municipality,
        tuple(effect for effects, _ in results for effect in effects),
        tuple(skip for _, skipped in results for skip in skipped),
    )


def evaluate_municipality(data: StudyData, municipality: str) -> MunicipalityEvaluation:
    """Every target of ``municipality`` times every indicator its series has, the targets
    together in a panel when there are several, then the municipality's perceived safety
    (survey), its local problems index and its targets' safety inspections."""
    frames = _Frames(data.series)
    parts = evaluation_parts(data, municipality)
    return assemble(municipality, (evaluate_part(data, municipality, p, frames) for p in parts))


# --------------------------------------------------------------------------- stored results


def store_evaluation(
    data: StudyData, evaluation: MunicipalityEvaluation, folder: Path, key: str, parameters: dict
) -> None:
    """Write a computed evaluation into ``folder``: its results for the notebook, ``effects.csv``
    with each row's family (the study-level step adds ``p_adjusted``) and the provenance.

    The key is written last, so a run killed on the way leaves no results that claim it.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / KEY_FILE).unlink(missing_ok=True)
    (folder / STUDY_KEY_FILE).unlink(missing_ok=True)  # earlier adjusted p-values no longer apply
    effects = assign_families(evaluation.to_frame(), data.study)
    write_csv(effects[EFFECT_COLUMNS], folder / EFFECTS_FILE)
    record = {
        "study": data.name,
        "inputs": data.manifest["inputs"],
        "parameters": parameters,
        "code": code_version(),
        "packages": package_versions(),
    }
    _replace(folder / PROVENANCE_FILE, (json.dumps(record, indent=2) + "\n").encode())
    _replace(folder / EVALUATION_FILE, pickle.dumps(evaluation, pickle.HIGHEST_PROTOCOL))
    _replace(folder / KEY_FILE, (key + "\n").encode())


def _replace(path: Path, content: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    tmp.replace(path)


def _stored(folder: Path, name: str) -> str | None:
    path = Path(folder) / name
    return path.read_text("utf-8").strip() if path.is_file() else None


def load_evaluation(folder: Path, key: str) -> MunicipalityEvaluation | None:
    """The evaluation stored in ``folder`` if it was computed under ``key``, else None.

    The file is the pipeline's own, read only when the key beside it (inputs,
    parameters and code) is the one asked for.
    """
    path = Path(folder) / EVALUATION_FILE
    if _stored(folder, KEY_FILE) != key or not path.is_file():
        return None
    evaluation = pickle.loads(path.read_bytes())
    return evaluation if isinstance(evaluation, MunicipalityEvaluation) else None


def cached_evaluation(
    data: StudyData, municipality: str, folder: Path, parameters: dict
) -> tuple[MunicipalityEvaluation, bool]:
    """The municipality's evaluation: the stored one when its key matches, else computed now
    (and stored in ``folder``). Returns the evaluation and whether it was stored already.

    ``parameters`` are the run's (they are part of the key: see :mod:`pipeline.run.cache`).
    """
    key = cache.municipality_key(data, municipality, parameters)
    evaluation = load_evaluation(folder, key)
    if evaluation is not None:
        return evaluation, True
    evaluation = evaluate_municipality(data, municipality)
    store_evaluation(data, evaluation, folder, key, parameters)
    return evaluation, False


def adjusted_effects(
    data: StudyData, municipality: str, folder: Path, parameters: dict
) -> pd.DataFrame | None:
    """The municipality's rows with ``family`` and ``p_adjusted`` as the study-level step
    wrote them, or None when that step has not run over its current results."""
    key = cache.municipality_key(data, municipality, parameters)
    path = Path(folder) / EFFECTS_FILE
    if _stored(folder, STUDY_KEY_FILE) != key or not path.is_file():
        return None
    effects = read_csv(path, dtype={"place_id": str})
    effects["primary"] = effects["primary"].astype(bool)
    return effects
