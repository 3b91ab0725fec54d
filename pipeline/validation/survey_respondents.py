"""The respondent-level survey difference-in-differences, kept to be measured against.

A weighted logistic regression with respondents as independent units: right
when the groups are whole populations sampled independently (municipalities),
far too sure when answers cluster by area and wave. The study's estimate is
:func:`pipeline.methods.survey_areas.area_difference_in_differences`; this one
stays for the survey benchmark (``benchmarks/survey_inference.py``, which shows
its false positives) and for the demo's tests, which check the generator's true
log odds ratios with it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import statsmodels.api as sm

from ..methods.survey_microdata import (
    DEFAULT_UNSAFE,
    MIN_CELL_N,
    UNRELIABLE_N,
    DateLike,
    cell_notes,
    check_cells,
    design_matrix,
    design_text,
    hc_scale,
    model_frame,
    odds_ratio_terms,
    period_cells,
)
from ..methods.survey_ordinal import SurveyModelResult

__all__ = ["controlled_comparison"]


def controlled_comparison(
    data: pd.DataFrame,
    *,
    treated: str | Iterable[str],
    before: DateLike | Iterable[DateLike],
    after: DateLike | Iterable[DateLike],
    question: str | None = None,
    group_col: str = "municipality",
    comparison: str | Iterable[str] | None = None,
    unsafe: Iterable[int] = DEFAULT_UNSAFE,
    level: float = 0.95,
    cov_type: str = "HC1",
    min_n: int = MIN_CELL_N,
    unreliable_n: int = UNRELIABLE_N,
) -> SurveyModelResult:
    """Weighted logistic regression ``unsafe ~ group + after + treated:after``.

    The odds ratio of ``treated:after`` is the difference-in-differences on
    the log-odds scale: how much more (OR > 1) or less (OR < 1) the odds of
    feeling unsafe changed in the treated groups than in the comparison groups.
    Each group has its own intercept (fixed effect), the first comparison
    group being the reference; with one treated and one comparison group the
    model is saturated and the odds ratio equals the ratio of the two groups'
    before/after odds ratios from :func:`pipeline.methods.survey.share_change`.

    Weights: the model is fitted by survey pseudo-maximum-likelihood, i.e.
    statsmodels ``GLM(..., family=Binomial(), var_weights=w)`` with the
    weights rescaled to mean 1 (the estimate does not depend on their scale).
    ``var_weights`` gives the same coefficients as ``freq_weights`` but
    ``freq_weights`` would treat Σw as the number of independent observations
    and understate the standard errors. Standard errors are the sandwich
    ``H⁻¹ (Σ sᵢsᵢᵀ) H⁻¹`` with weighted scores (HC0). For ``"HC1"`` this
    function multiplies by ``n/(n-k)`` itself: in statsmodels 0.15 GLM every
    ``cov_type="HCx"`` returns HC0 (statsmodels issue #7798). The sandwich
    treats respondents as independent: it holds when groups are whole
    populations sampled independently (municipalities), but not when answers
    cluster by area and wave, where it rejects a true null far too often
    (``benchmarks/survey_inference.py``); with two to four groups a
    cluster-robust variance by group would not be usable either. For areas use
    :func:`pipeline.methods.survey_areas.area_difference_in_differences`.

    Parameters
    ----------
    data, treated, before, after, question, comparison, unsafe, level
        As in :func:`pipeline.methods.survey_areas.area_difference_in_differences`,
        which takes the same survey, groups and waves. Fitting with `unsafe`
        {2, 3, 4}, {3, 4} and {4} shows whether the effect depends on the
        cut, which is also an informal check of the ordinal model's
        proportional odds.
    group_col : str, default "municipality"
        The column defining groups (e.g. ``"place_id"``).
    cov_type : {"HC1", "HC0"}
    min_n, unreliable_n : int
        Thresholds for suppressing and flagging cells in ``cells``.

    Returns
    -------
    SurveyModelResult

    Raises
    ------
    pipeline.errors.EstimationError
        When a group x period cell is empty or everyone (or no one) in it is
        unsafe: the log-odds are then infinite.
    """
    frame, question, unsafe, treated_list, comparison_list = model_frame(
        data,
        question=question,
        unsafe=unsafe,
        before=before,
        after=after,
        group_col=group_col,
        treated=treated,
        comparison=comparison,
    )
    groups = comparison_list + treated_list  # reference = first comparison group
    check_cells(frame, group_col, groups, binary=True)
    exog = design_matrix(frame, group_col, groups, treated=True, intercept=True)
    weights = frame["weight"].to_numpy(float)
    weights = weights / weights.mean()
    fit = sm.GLM(
        frame["y"].to_numpy(float),
        exog.to_numpy(),
        family=sm.families.Binomial(),
        var_weights=weights,
    ).fit(cov_type="HC0")
    n, k = exog.shape
    cov = np.asarray(fit.cov_params()) * hc_scale(cov_type, n, k)
    params = odds_ratio_terms(exog.columns, np.asarray(fit.params), cov, level)
    cells = period_cells(frame, group_col, min_n, unreliable_n)
    return SurveyModelResult.from_terms(
        params,
        "treated:after",
        model="logit",
        question=question,
        outcome=f"unsafe = answer in {{{', '.join(map(str, sorted(unsafe)))}}}",
        cells=cells,
        n=int(n),
        cov_type=cov_type,
        level=level,
        design=design_text(treated_list, comparison_list),
        notes=tuple(cell_notes(cells, group_col, min_n, unreliable_n)),
    )
