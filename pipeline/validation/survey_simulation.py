"""Error rates of the survey difference-in-differences by simulation with a known truth.

Draws :func:`~pipeline.validation.synthetic_survey.clustered_survey` data with
area-by-wave shocks and repeated respondents, and measures how often each
inference rejects a true null, how often its interval covers the truth, and
its power against a true effect: the area-level difference-in-differences
(percentage points and log odds, t on areas - 2 degrees of freedom) and, for
comparison, the respondent-level logistic regression with HC1 errors; and, on
request, the proportional-odds model with the areas' spread as its error.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..methods.survey_areas import (
    area_difference_in_differences,
    area_log_odds_standard_error,
    t_inference,
)
from ..methods.survey_ordinal import ordinal_model
from .survey_respondents import controlled_comparison
from .synthetic_survey import clustered_survey

BEFORE, AFTER = "2019-10-01", "2022-10-01"


def survey_inference_study(
    *,
    reps: int = 400,
    seed: int = 2026,
    arms: Sequence[tuple[int, int]] = ((1, 2), (2, 2), (3, 3)),
    shock_sds: Sequence[float] = (0.0, 0.15, 0.3),
    effects: Sequence[float] = (0.0, -0.4),
    respondent_level: bool = True,
    ordinal: bool = False,
    level: float = 0.95,
) -> pd.DataFrame:
    """Rejection rate and coverage of the survey inferences per scenario.

    Parameters
    ----------
    reps : int
        Simulated surveys per scenario.
    seed : int
        Seed; each scenario and replicate draws from ``default_rng([seed, i, r])``.
    arms : sequence of (int, int)
        Target and comparison areas.
    shock_sds : sequence of float
        Area-by-wave shock standard deviations (logit scale).
    effects : sequence of float
        True effects on the latent logistic scale (0 is the null).
    respondent_level : bool
        Also run the respondent-level logistic regression with HC1 errors
        (under the null only: it is there to show its false positives).
    ordinal : bool
        Also run the proportional-odds model with the areas' spread as its
        error (slower); its truth is known only under the null (0), so its
        coverage is reported there only.
    level : float

    Returns
    -------
    pandas.DataFrame
        One row per scenario and inference: ``n_target``, ``n_comparison``,
        ``shock_sd``, ``effect``, ``inference``, ``reps``, ``rejection_rate``
        (false positives under the null, power otherwise), ``coverage`` of the
        true value, ``mean_estimate`` and ``truth``.
    """
    rows = []
    scenarios = [(a, s, e) for a in arms for s in shock_sds for e in effects]
    for index, ((n_t, n_c), shock, effect) in enumerate(scenarios):
        hits: dict[str, list[tuple[float, float, float, float]]] = {}
        for rep in range(reps):
            data, truth = clustered_survey(
                seed=int(np.random.SeedSequence([seed, index, rep]).generate_state(1)[0]),
                n_target=n_t,
                n_comparison=n_c,
                effect=effect,
                shock_sd=shock,
            )
            treated = [f"t{i}" for i in range(n_t)]
            common = dict(treated=treated, before=BEFORE, after=AFTER, group_col="place_id")
            try:
                result = area_difference_in_differences(data, level=level, **common)
            except EstimationError:
                continue
            for name, estimand in (
                ("areas: percentage points", "share_difference_pp"),
                ("areas: log odds", "log_odds_ratio"),
            ):
                est, low, high, p = result.values(estimand)
                hits.setdefault(name, []).append((est, low, high, p, truth[estimand]))
            if ordinal:
                model = ordinal_model(data, level=level, **common)
                se, df = area_log_odds_standard_error(data, **common)
                log_or = float(np.log(model.estimate))
                low, high, p = t_inference(log_or, se, df, level)
                hits.setdefault("areas: ordinal cumulative log odds", []).append(
                    (log_or, low, high, p, 0.0 if effect == 0 else np.nan)
                )
            if respondent_level and effect == 0:
                try:
                    model = controlled_comparison(data, level=level, **common)
                except EstimationError:
                    continue
                hits.setdefault("respondents: HC1 log odds", []).append(
                    (
                        np.log(model.estimate),
                        np.log(model.ci_low),
                        np.log(model.ci_high),
                        model.p_value,
                        truth["log_odds_ratio"],
                    )
                )
        for name, values in hits.items():
            v = np.array(values, dtype=float)
            est, low, high, p, true = v.T
            rows.append(
                {
                    "n_target": n_t,
                    "n_comparison": n_c,
                    "shock_sd": shock,
                    "effect": effect,
                    "inference": name,
                    "reps": len(v),
                    "rejection_rate": float(np.mean(p < 1 - level))
                    if np.isfinite(p).any()
                    else np.nan,
                    "coverage": float(np.mean((low <= true) & (true <= high)))
                    if np.isfinite(low).any() and np.isfinite(true).all()
                    else np.nan,
                    "mean_estimate": float(np.mean(est)),
                    "truth": float(np.mean(true)),
                }
            )
    return pd.DataFrame(rows)
