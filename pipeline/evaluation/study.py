"""The study-level step: families of hypotheses, adjusted p-values, pooling, the study's files.

Runs after the municipalities' evaluations, without a kernel: it reads each
municipality's ``effects.csv``, sorts every row into one family of hypotheses
declared in ``study.yml`` before the results (``analysis.confirmatory``),
adjusts each family's p-values, pools across places and municipalities, and
writes the study-wide ``effects.csv`` and ``pooled_effects.csv`` (and gives the
municipalities' own ``effects.csv`` the same ``family`` and ``p_adjusted``, so
every report uses the same words for the same estimate).

Families (column ``family``):

- ``confirmatory``: each municipality's primary outcome (the primary indicator
  at its target places: the panel of its targets when it has several, else
  its single target's primary design) and the programme-level pooled estimate.
  Holm's procedure over this small set; only it decides whether a
  municipality's change is "clear".
- ``gatekept``: the same estimates for the subcategory indicators, tested only
  where their primary is clear: adjusted p is the larger of the primary's
  adjusted p and Holm's adjustment among that municipality's (or the
  programme's) subcategories, so a subcategory is never clear when its primary
  is not.
- ``secondary``: buffers, safety inspections and perceived safety (the primary
  row of each) and their pools: Benjamini-Hochberg (false discovery rate).
- ``descriptive``: everything else (other designs, each place within a
  municipality's panel); shown with its unadjusted p, never called clear.

Pooling. Places of one municipality, and usually of the whole study, share
comparison areas, so their estimates are correlated and a meta-analysis that
treats them as independent understates the pooled uncertainty. Count
indicators are therefore pooled through the joint model, the panel of every
target against every comparison area, which nests the places in their
municipalities (a variance component between municipalities, so the programme's
interval holds for municipalities whose effects differ), or where the panel
cannot be fitted the pooled difference-in-differences (:func:`pool_programme`).
Survey and
inspection estimates are independent across municipalities and places and are
pooled by random-effects meta-analysis, one estimand per pool: rows with other
estimands form their own pool, never mixed in.

One module (over 500 lines): the families, their adjustment and the pools are
one step over the same rows, and the files it writes carry all three.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..designs.panel import panel_effects
from ..designs.pooled_did import pooled_did_effect
from ..errors import EstimationError
from ..inputs.prepare import StudyData
from ..inputs.study import Place, Study
from ..methods.meta_analysis import meta_analyse
from ..methods.multiplicity import adjust_p_values
from ..outputs import read_csv, write_csv
from ..results import EFFECT_COLUMNS, POOLED_COLUMNS, Effect
from ..run.paths import EFFECTS_FILE, POOLED_FILE, STUDY_PROVENANCE_FILE, folder_name
from ..run.provenance import code_version, package_versions

FAMILIES = ("confirmatory", "gatekept", "secondary", "descriptive")

#: Estimands pooled on the log scale; the others (percentage points, points) as they are.
RATIO_ESTIMANDS = frozenset(
    {
        "rate_ratio",
        "rate_ratio_per_year",
        "relative_effect_size",
        "odds_ratio",
        "cumulative_odds_ratio",
        "displacement_quotient",
    }
)

_Z = 1.959963984540054


@dataclass(frozen=True)
class Hypotheses:
    """The study's declared families: which indicator is primary, which are gatekept or secondary."""

    indicator: str | None
    subcategories: tuple[str, ...]
    secondary: tuple[str, ...]
    buffers: frozenset[str]
    programme: bool
    alpha: float

    @classmethod
    def of(cls, study: Study) -> Hypotheses:
        settings = study.analysis.confirmatory
        counts = [i for i in study.indicators if i.family == "count"]
        indicator = settings.indicator or (counts[0].id if counts else None)
        better = next((i.better for i in study.indicators if i.id == indicator), None)
        if settings.subcategories is None:
            # Subcategories of the confirmatory outcome: the other counts that go the same way
            # (crimes); a count where higher is better (footfall) is another question.
            subcategories = tuple(i.id for i in counts if i.id != indicator and i.better == better)
        else:
            subcategories = tuple(settings.subcategories)
        outcomes = tuple(s.indicator for s in (study.survey, study.inspections) if s is not None)
        # Every other indicator the study follows (footfall, shares of women or of vacant
        # premises) is a secondary question, after perceived safety and the inspections.
        others = tuple(
            i.id
            for i in study.indicators
            if i.id not in (indicator, *subcategories, *outcomes)
            and i.family in ("count", "proportion")
        )
        secondary = outcomes + others
        buffers = frozenset(p.id for p in study.places if p.role == "buffer")
        return cls(indicator, subcategories, secondary, buffers, settings.programme, settings.alpha)


def _pooled_row(frame: pd.DataFrame) -> pd.Series:
    """Rows without a place: a municipality's panel of targets, or its survey."""
    place = frame["place_id"]
    return place.isna() | (place.astype(str) == "")


def municipality_primaries(
    effects: pd.DataFrame, study: Study, indicator: str
) -> dict[str, int | str]:
    """Each municipality's primary estimate of ``indicator``: its row label, or why there is none.

    A municipality with several targets is summarised by the panel of its
    targets (one estimate that knows they share comparison areas); one with a
    single target by that target's primary design.
    """
    found: dict[str, int | str] = {}
    for municipality in study.municipality_names:
        targets = study.targets(municipality)
        rows = effects[
            (effects["municipality"] == municipality) & (effects["indicator"] == indicator)
        ]
        if not targets:
            found[municipality] = "the municipality has no target place"
            continue
        if len(targets) >= 2:
            chosen = rows[(rows["design"] == "panel") & _pooled_row(rows)]
            missing = "the panel of its targets was not estimated"
        else:
            chosen = rows[(rows["place_id"] == targets[0].id) & rows["primary"].astype(bool)]
            missing = f"no primary estimate for {targets[0].id}"
        if rows.empty:
            found[municipality] = f"no estimate of {indicator}"
        elif len(chosen) != 1:
            found[municipality] = missing
        else:
            found[municipality] = chosen.index[0]
    return found


def assign_families(effects: pd.DataFrame, study: Study) -> pd.DataFrame:
    """``effects`` with its ``family`` column filled from the study's declared hypotheses.

    Works on one municipality's rows as on the whole study's: a row's family
    depends only on its own municipality.
    """
    hypotheses = Hypotheses.of(study)
    effects = effects.copy()
    effects["family"] = "descriptive"
    primary = effects["primary"].astype(bool)
    present = set(effects["municipality"])
    for indicator, family in (
        (hypotheses.indicator, "confirmatory"),
        *((s, "gatekept") for s in hypotheses.subcategories),
    ):
        if indicator is None:
            continue
        for municipality, row in municipality_primaries(effects, study, indicator).items():
            if municipality in present and not isinstance(row, str):
                effects.loc[row, "family"] = family
    secondary = primary & (
        effects["indicator"].isin(hypotheses.secondary)
        | effects["place_id"].isin(hypotheses.buffers)
    )
    effects.loc[secondary & (effects["family"] == "descriptive"), "family"] = "secondary"
    return effects


def _holm(p: pd.Series) -> pd.Series:
    return adjust_p_values(p.astype(float), method="holm") if len(p) else p


def adjust(effects: pd.DataFrame, pooled: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fill ``p_adjusted`` of every row by its family (see the module docstring).

    The confirmatory family spans the municipalities' rows in ``effects`` and
    the programme's confirmatory row in ``pooled``; a gatekept row's gate is
    its municipality's confirmatory row (the programme's for pooled rows).
    """
    effects, pooled = effects.copy(), pooled.copy()
    effects["p_adjusted"] = np.nan
    pooled["p_adjusted"] = np.nan
    both = pd.concat(
        [effects.assign(_pooled=False), pooled.assign(_pooled=True)], ignore_index=True
    )
    both["municipality"] = both["municipality"].fillna("")
    adjusted = pd.Series(np.nan, index=both.index)

    confirmatory = both["family"] == "confirmatory"
    adjusted[confirmatory] = _holm(both.loc[confirmatory, "p_value"])
    gates = {
        (row.municipality, row._pooled): adjusted[i] for i, row in both[confirmatory].iterrows()
    }
    gatekept = both["family"] == "gatekept"
    for (municipality, is_pooled), rows in both[gatekept].groupby(["municipality", "_pooled"]):
        gate = gates.get((municipality, is_pooled), np.nan)
        within = _holm(rows["p_value"])
        adjusted[rows.index] = np.where(np.isnan(gate), np.nan, np.fmax(within, gate))
    secondary = both["family"] == "secondary"
    adjusted[secondary] = adjust_p_values(both.loc[secondary, "p_value"].astype(float), "fdr_bh")

    effects["p_adjusted"] = adjusted[~both["_pooled"]].to_numpy()
    pooled["p_adjusted"] = adjusted[both["_pooled"]].to_numpy()
    return effects, pooled


def certainty(family: str, p_adjusted: float, alpha: float = 0.05) -> str:
    """The one word every report uses for a row: clear, uncertain, not tested, or descriptive.

    Returns
    -------
    str
        ``"clear"`` (adjusted p below ``alpha`` in a tested family),
        ``"uncertain"``, ``"not_tested"`` (a gatekept row whose primary is not
        clear or missing) or ``"descriptive"``.
    """
    if family == "descriptive":
        return "descriptive"
    if p_adjusted != p_adjusted:
        return "not_tested"
    return "clear" if p_adjusted < alpha else "uncertain"


# --------------------------------------------------------------------------- pooling

#: The programme-level pool of a count indicator: (data, indicator id, targets) -> pooled Effect.
ProgrammePool = Callable[[StudyData, str, list[Place]], Effect]


def pool_programme(data: StudyData, indicator_id: str, targets: list[Place]) -> Effect:
    """The programme-level estimate of a count indicator: one joint model of every target.

    The panel of every target sees that targets share comparison areas (their
    estimates' covariance) and weights each target by its expected post-period
    count. It answers the programme's question for its own places: did they
    get safer? (The effect in municipalities like these, with the variance
    between municipalities, is :func:`pool_municipalities_like_these`.)
    Where it cannot be fitted (a target with less than a year before its
    start, or without events on both sides), the pooled difference-in-differences
    takes every target whatever its events; the places' own ratios are never
    meta-pooled, since those that exist are selected on the outcome. Any pooled
    design with this signature can take its place.

    Raises
    ------
    EstimationError
        Neither joint model can be fitted; the message gives both reasons.
    """
    try:
        return panel_effects(data, indicator_id, targets, nested=False)[0]
    except EstimationError as exc:
        refused = str(exc)
    try:
        pooled = pooled_did_effect(data, indicator_id, targets)
    except EstimationError as exc:
        raise EstimationError(f"panel: {refused}; pooled_did: {exc}") from exc
    note = f"the panel of the targets could not be fitted: {refused}"
    return replace(pooled, notes=(note, *pooled.notes))


#: The design name of the programme's pool that nests places in municipalities.
NESTED_PANEL = "panel_nested"


def pool_municipalities_like_these(
    data: StudyData, indicator_id: str, targets: list[Place]
) -> Effect:
    """The programme's effect in municipalities like these: the panel of every target with the
    variance between the targets' municipalities added (t on M - 1 df once it is positive).

    It is wider than :func:`pool_programme` when municipalities' effects differ, and reported
    beside it as a descriptive row: the confirmatory question is about the programme's places.
    """
    effect = panel_effects(data, indicator_id, targets, nested=True)[0]
    return replace(effect, design=NESTED_PANEL)


def _pooled_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=POOLED_COLUMNS)


def _not_estimated(indicator: str, design: str, estimand: str, family: str, reason: str) -> dict:
    return {
        "municipality": "",
        "indicator": indicator,
        "design": design,
        "estimand": estimand,
        "family": family,
        "notes": f"not estimated: {reason}",
    }


def _count_pools(
    data: StudyData,
    municipalities: list[str],
    hypotheses: Hypotheses,
    pool: ProgrammePool,
) -> list[dict]:
    targets = [p for p in data.study.targets() if p.municipality in municipalities]
    available = set(zip(data.series["place_id"], data.series["indicator"], strict=True))
    rows = []
    for indicator in data.study.indicators:
        if indicator.family != "count":
            continue
        if indicator.id == hypotheses.indicator and hypotheses.programme:
            family = "confirmatory"
        elif indicator.id in hypotheses.subcategories and hypotheses.programme:
            family = "gatekept"
        else:
            family = "descriptive"
        with_series = [p for p in targets if (p.id, indicator.id) in available]
        if len(with_series) < 2:
            reason = f"{len(with_series)} target(s) with data; pooling needs 2"
            rows.append(_not_estimated(indicator.id, "panel", "rate_ratio", family, reason))
            continue
        try:
            effect = pool(data, indicator.id, with_series)
        except EstimationError as exc:
            rows.append(_not_estimated(indicator.id, "panel", "rate_ratio", family, str(exc)))
            continue
        rows.append(_pool_record(indicator.id, effect, len(with_series), family))
        if family == "confirmatory" and len({p.municipality for p in with_series}) > 1:
            try:
                nested = pool_municipalities_like_these(data, indicator.id, with_series)
            except EstimationError as exc:
                reason = str(exc)
                rows.append(
                    _not_estimated(indicator.id, NESTED_PANEL, "rate_ratio", "descriptive", reason)
                )
            else:
                rows.append(_pool_record(indicator.id, nested, len(with_series), "descriptive"))
    return rows


def _pool_record(indicator: str, effect: Effect, k: int, family: str) -> dict:
    return {
        "municipality": "",
        "indicator": indicator,
        "design": effect.design,
        "estimand": effect.estimand,
        "estimate": effect.estimate,
        "ci_low": effect.ci_low,
        "ci_high": effect.ci_high,
        "p_value": effect.p_value,
        "k": k,
        "family": family,
        "method": effect.method,
        "notes": " | ".join(effect.notes),
    }


def _standard_errors(frame: pd.DataFrame, ratio: bool) -> tuple[np.ndarray, np.ndarray]:
    """Estimates and standard errors recovered from 95 % intervals (log scale for ratios)."""
    low, high, est = (frame[c].to_numpy(dtype=float) for c in ("ci_low", "ci_high", "estimate"))
    if ratio:
        low, high, est = np.log(low), np.log(high), np.log(est)
    # Intervals from t references or inverted exact tests are not exactly est ± 1.96 se;
    # half the width over 1.96 is the normal-equivalent standard error.
    return est, (high - low) / (2 * _Z)


def _meta_pools(effects: pd.DataFrame, hypotheses: Hypotheses) -> list[dict]:
    """Random- and fixed-effect pools of the secondary survey and inspection rows, per estimand."""
    rows = []
    secondary = effects[
        (effects["family"] == "secondary") & effects["indicator"].isin(hypotheses.secondary)
    ]
    for (indicator, estimand), frame in secondary.groupby(["indicator", "estimand"], sort=False):
        frame = frame.reset_index(drop=True)
        estimands = sorted(set(secondary.loc[secondary["indicator"] == indicator, "estimand"]))
        mixed = (
            [
                f"pooled apart from the rows measured as {', '.join(e for e in estimands if e != estimand)}"
            ]
            if len(estimands) > 1
            else []
        )
        ratio = estimand in RATIO_ESTIMANDS
        unweighted = []
        if len(frame) >= 2:
            y, se = _standard_errors(frame, ratio)
            usable = np.isfinite(y) & np.isfinite(se) & (se > 0)
            if not usable.all():  # a row without a measured error cannot be weighted
                left = frame.loc[~usable, "municipality"].astype(str)
                unweighted = [f"pooled without {', '.join(left)}: no standard error"]
                frame, y, se = frame[usable].reset_index(drop=True), y[usable], se[usable]
        if len(frame) < 2:
            reason = (
                f"{len(frame)} estimate(s) measured as {estimand} with a standard error; "
                "pooling needs 2"
            )
            rows.append(_not_estimated(indicator, "meta_random", estimand, "secondary", reason))
            continue
        labels = [
            f"{m}: {p}" if isinstance(p, str) and p else str(m)
            for m, p in zip(frame["municipality"], frame["place_id"], strict=True)
        ]
        result = meta_analyse(y, se, labels)
        back = np.exp if ratio else (lambda v: v)
        for pooled, family in ((result.random, "secondary"), (result.fixed, "descriptive")):
            random = pooled.model == "random"
            rows.append(
                {
                    "municipality": "",
                    "indicator": indicator,
                    "design": f"meta_{pooled.model}",
                    "estimand": estimand,
                    "estimate": back(pooled.estimate),
                    "ci_low": back(pooled.ci_low),
                    "ci_high": back(pooled.ci_high),
                    "p_value": pooled.p_value,
                    "k": result.k,
                    "tau2": result.tau2,
                    "i2_percent": result.i2,
                    "pi_low": back(result.pi_low) if random else np.nan,
                    "pi_high": back(result.pi_high) if random else np.nan,
                    "family": family,
                    "method": f"{pooled.ci_method}; tau2 by {result.method}",
                    "notes": " | ".join([*mixed, *unweighted, "; ".join(labels)]),
                }
            )
    return rows


# --------------------------------------------------------------------------- the step


@dataclass(frozen=True)
class StudyResults:
    """What the study-level step computed, and what it could not (with the reason)."""

    effects: pd.DataFrame
    pooled: pd.DataFrame
    problems: tuple[str, ...]
    alpha: float


def study_results(
    data: StudyData,
    effects: pd.DataFrame,
    municipalities: list[str] | None = None,
    pool: ProgrammePool = pool_programme,
) -> StudyResults:
    """Families, adjusted p-values and pools for the municipalities' stacked effects.

    Parameters
    ----------
    data
        The validated study.
    effects
        The ``effects.csv`` rows of the municipalities whose evaluation succeeded.
    municipalities
        Those municipalities (default: every one in ``effects``); the
        programme-level pools take their targets only.
    pool
        The programme-level pool of a count indicator.
    """
    hypotheses = Hypotheses.of(data.study)
    municipalities = list(
        municipalities if municipalities is not None else dict.fromkeys(effects["municipality"])
    )
    effects = assign_families(effects.reset_index(drop=True), data.study)
    problems = []
    if hypotheses.indicator is None:
        problems.append("the study has no count indicator: there is no confirmatory family")
    else:
        found = municipality_primaries(effects, data.study, hypotheses.indicator)
        for municipality in data.study.municipality_names:
            if municipality not in municipalities:
                problems.append(
                    f"{municipality}: the evaluation failed; it is in no family of this report"
                )
            elif isinstance(found[municipality], str):
                problems.append(
                    f"{municipality}: no primary estimate of {hypotheses.indicator} "
                    f"({found[municipality]}); the confirmatory family is one smaller"
                )
    pooled = _pooled_frame(
        _count_pools(data, municipalities, hypotheses, pool) + _meta_pools(effects, hypotheses)
    )
    for row in pooled[pooled["estimate"].isna()].itertuples(index=False):
        problems.append(f"pooled {row.indicator} ({row.design}): {row.notes}")
    effects, pooled = adjust(effects, pooled)
    return StudyResults(effects[EFFECT_COLUMNS], pooled, tuple(problems), hypotheses.alpha)


def run_study_step(
    data: StudyData,
    reports_dir: str | Path,
    status: list[dict],
    *,
    parameters: dict | None = None,
    pool: ProgrammePool = pool_programme,
) -> StudyResults:
    """Read the municipalities' ``effects.csv``, compute the study level and write its files.

    Writes ``effects.csv`` (every municipality, with ``family`` and
    ``p_adjusted``), ``pooled_effects.csv`` and their provenance (with the
    problems met) into ``reports_dir``, and rewrites each municipality's own
    ``effects.csv`` with the same ``family`` and ``p_adjusted``.

    Parameters
    ----------
    data
        The validated study.
    reports_dir
        The study's reports folder (one sub-folder per municipality).
    status
        The run status of the municipalities (``run_status.json``'s list).
    parameters
        Recorded in the provenance.
    pool
        The programme-level pool of a count indicator.
    """
    out = Path(reports_dir)
    # A municipality's folder is a safe form of its name (pipeline.run.paths.folder_name).
    folders = {
        m.name: out / folder_name(m.name, fallback=m.kommunkod) for m in data.study.municipalities
    }
    frames, ok = [], []
    for row in status:
        path = folders[row["municipality"]] / EFFECTS_FILE
        if row["status"] == "ok" and path.is_file():
            frames.append(read_csv(path, dtype={"place_id": str}))
            ok.append(row["municipality"])
    frames = [f for f in frames if not f.empty]
    effects = (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=EFFECT_COLUMNS)
    )
    effects["primary"] = effects["primary"].astype(bool)
    results = study_results(data, effects, ok, pool)
    write_csv(results.effects, out / EFFECTS_FILE)
    write_csv(results.pooled, out / POOLED_FILE)
    for municipality in ok:
        own = results.effects[results.effects["municipality"] == municipality]
        write_csv(own, folders[municipality] / EFFECTS_FILE)
    record = {
        "study": data.name,
        "inputs": data.manifest["inputs"],
        "parameters": parameters or {},
        "code": code_version(),
        "packages": package_versions(),
        "municipalities": status,
        "alpha": results.alpha,
        "problems": list(results.problems),
    }
    (out / STUDY_PROVENANCE_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return results
