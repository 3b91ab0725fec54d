"""The proportional-odds model of the full answer scale, weighted.

Perceived safety is asked on an ordered scale (1 very safe to 4 very unsafe);
the cumulative odds ratio of a less safe answer uses all of it. The model's
sandwich errors treat respondents as independent: with answers clustered by
area and wave, :mod:`.survey_areas` gives the areas' error and checks the
proportional-odds assumption.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.miscmodels.ordinal_model import OrderedModel

from ..errors import EstimationError
from ..format import summary_html
from .survey_microdata import (
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

__all__ = ["SurveyModelResult", "ordinal_model"]


@dataclass(frozen=True)
class SurveyModelResult:
    """A weighted model of survey answers with a period (and group x period) term.

    Holds aggregates only: coefficients, cell counts and shares, never rows.

    Attributes
    ----------
    model : str
        ``"logit"`` (unsafe yes/no) or ``"ordinal logit"`` (proportional odds).
    question : str
    outcome : str
        What is modelled, in words.
    term : str
        The term of interest: ``"treated:after"`` or, without a comparison
        group, ``"after"``.
    estimate, ci_low, ci_high, p_value : float
        Its odds ratio, interval and Wald p-value. For the ordinal model it is
        the cumulative odds ratio of a less safe answer.
    params : pandas.DataFrame
        Every term: ``term``, ``coef``, ``std_error``, ``z``, ``p_value``,
        ``odds_ratio``, ``or_low``, ``or_high``.
    cells : pandas.DataFrame
        Respondents, effective n and weighted share unsafe per group and period
        (small cells suppressed).
    n : int
        Respondents in the model.
    cov_type : str
    level : float
    design : str
        The Maryland SMS level the estimate reaches, in words.
    notes : tuple of str
        Caveats found in the data (small cells, ...).
    """

    model: str
    question: str
    outcome: str
    term: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    params: pd.DataFrame
    cells: pd.DataFrame
    n: int
    cov_type: str
    level: float
    design: str
    notes: tuple[str, ...] = ()

    @classmethod
    def from_terms(cls, params: pd.DataFrame, term: str, **fields) -> SurveyModelResult:
        """The result whose estimate is ``term``'s odds ratio in ``params``.

        ``params`` is the table of :func:`~.survey_microdata.odds_ratio_terms`;
        ``fields`` are the remaining attributes.
        """
        key = params.loc[params["term"] == term].iloc[0]
        return cls(
            term=term,
            estimate=float(key["odds_ratio"]),
            ci_low=float(key["or_low"]),
            ci_high=float(key["or_high"]),
            p_value=float(key["p_value"]),
            params=params,
            **fields,
        )

    def to_frame(self) -> pd.DataFrame:
        """Every term's estimate as a tidy frame (a copy)."""
        return self.params.copy()

    def summary(self) -> str:
        """A plain-text account of the estimate and its caveats."""
        lines = [
            f"Weighted {self.model} model for {self.question}: {self.outcome}",
            f"{self.term}: odds ratio {self.estimate:.2f} "
            f"({self.level:.0%} CI {self.ci_low:.2f} to {self.ci_high:.2f}), p = {self.p_value:.3f}",
            f"n = {self.n} respondents; {self.cov_type} sandwich standard errors; {self.design}",
        ]
        lines += [f"Note: {note}" for note in self.notes]
        lines.append(self.params.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.params)


class _WeightedOrderedModel(OrderedModel):
    """OrderedModel with a weighted log-likelihood (survey pseudo-likelihood).

    statsmodels' OrderedModel takes no weights. Its score and Hessian are
    numerical derivatives of ``loglikeobs`` and ``loglike`` (statsmodels 0.15),
    so weighting ``loglikeobs`` weights the estimating equations, the Hessian
    and the per-observation scores used by the sandwich covariance.
    """

    def __init__(self, endog, exog, *, weights=None, distr="logit"):
        super().__init__(endog, exog, distr=distr)
        n = len(self.endog)
        self.survey_weights = np.ones(n) if weights is None else np.asarray(weights, dtype=float)

    def loglikeobs(self, params):
        return self.survey_weights * super().loglikeobs(params)


def ordinal_model(
    data: pd.DataFrame,
    *,
    before: DateLike | Iterable[DateLike],
    after: DateLike | Iterable[DateLike],
    question: str | None = None,
    group_col: str = "municipality",
    treated: str | Iterable[str] | None = None,
    comparison: str | Iterable[str] | None = None,
    level: float = 0.95,
    cov_type: str = "HC1",
    weighted: bool = True,
    min_n: int = MIN_CELL_N,
    unreliable_n: int = UNRELIABLE_N,
) -> SurveyModelResult:
    """Proportional-odds (ordered logit) model of the full answer scale 1-4.

    Uses statsmodels ``OrderedModel`` with ``distr="logit"``: with cut points
    ``c₁ < c₂ < c₃``, ``P(answer ≤ j) = F(c_j - xβ)``, so a positive
    coefficient moves answers towards "very unsafe" and ``exp(β)`` is the
    cumulative odds ratio of a less safe answer at every cut. Terms: group
    fixed effects (no intercept; the cut points take its place), ``after``
    and, with `treated`, ``treated:after``. Code 5 (don't go out / no answer)
    is left out, not placed on the scale.

    Weights: OrderedModel accepts no weights. With ``weighted=True`` (the
    default) this function maximises the weighted pseudo-log-likelihood
    ``Σ wᵢ log Lᵢ`` by overriding ``loglikeobs``, with weights rescaled to mean
    1, and reports sandwich (HC0, times ``n/(n-k)`` for HC1) standard errors;
    this works because OrderedModel differentiates ``loglikeobs`` numerically
    (checked in the tests: equal weights reproduce OrderedModel exactly, and
    integer weights reproduce the coefficients of a fit on the expanded data).
    Expanding the data by rounded weights was rejected: it treats Σw as the
    number of respondents and understates the standard errors. With
    ``weighted=False`` the model describes the sample, not the population.

    The proportional-odds assumption (one β for every cut) is tested by
    :func:`pipeline.methods.survey_areas.proportional_odds_check`. The
    sandwich errors treat respondents as independent; with answers clustered
    by area and wave use the areas' spread
    (:func:`pipeline.methods.survey_areas.area_log_odds_standard_error`).

    Parameters
    ----------
    data : pandas.DataFrame
        Survey microdata as returned by :func:`read_survey`.
    before, after : date-like or iterable of date-like
        The wave(s) pooled into each period.
    question : str, optional
        Required when the data hold more than one question.
    group_col : str, default "municipality"
        The column defining groups.
    treated : str or iterable of str, optional
        Groups that received the measures; without them the key term is
        ``after`` (before/after only).
    comparison : str or iterable of str, optional
        Comparison groups; by default every group that is not treated.
    level : float, default 0.95
    cov_type : {"HC1", "HC0"}
    weighted : bool, default True
        Fit the weighted pseudo-likelihood (see above).
    min_n, unreliable_n : int
        Thresholds for suppressing and flagging cells in ``cells``.

    Returns
    -------
    SurveyModelResult
        ``params`` holds the effect terms followed by the cut points
        (``cut 1|2`` ...; their standard errors are left missing because the
        model estimates them in an increment parameterisation).

    Raises
    ------
    pipeline.errors.EstimationError
        When a group x period cell is empty, fewer than two answer levels
        occur, or the optimiser does not converge.
    """
    frame, question, _, treated_list, comparison_list = model_frame(
        data,
        question=question,
        unsafe=DEFAULT_UNSAFE,
        before=before,
        after=after,
        group_col=group_col,
        treated=treated,
        comparison=comparison,
    )
    groups = comparison_list + treated_list
    check_cells(frame, group_col, groups, binary=False)
    levels = sorted(frame["answer"].astype(int).unique())
    if len(levels) < 2:
        raise EstimationError(
            f"all answers are {levels[0]}: an ordinal model needs at least two levels"
        )
    exog = design_matrix(frame, group_col, groups, treated=bool(treated_list), intercept=False)
    endog = frame["answer"].astype(int).to_numpy()
    weights = frame["weight"].to_numpy(float) if weighted else np.ones(len(frame))
    weights = weights / weights.mean()
    model = _WeightedOrderedModel(endog, exog.to_numpy(), weights=weights, distr="logit")
    fit = model.fit(method="bfgs", maxiter=500, disp=False, cov_type="HC0")
    if not fit.mle_retvals.get("converged", False):
        raise EstimationError("the ordered logit did not converge")
    n, k_exog = exog.shape
    k_all = len(fit.params)
    cov = np.asarray(fit.cov_params()) * hc_scale(cov_type, n, k_all)
    coef = np.asarray(fit.params)
    params = odds_ratio_terms(exog.columns, coef[:k_exog], cov[:k_exog, :k_exog], level)
    cuts = model.transform_threshold_params(coef)[1:-1]
    cut_rows = pd.DataFrame(
        {
            "term": [f"cut {a}|{b}" for a, b in zip(levels[:-1], levels[1:], strict=True)],
            "coef": cuts,
        }
    )
    params = pd.concat([params, cut_rows], ignore_index=True)
    term = "treated:after" if treated_list else "after"
    cells = period_cells(frame, group_col, min_n, unreliable_n)
    notes = cell_notes(cells, group_col, min_n, unreliable_n)
    if not weighted:
        notes.append("fitted without survey weights: describes the sample, not the population")
    return SurveyModelResult.from_terms(
        params,
        term,
        model="ordinal logit",
        question=question,
        outcome=f"answer on the ordered scale {levels[0]}-{levels[-1]} (higher = less safe)",
        cells=cells,
        n=int(n),
        cov_type=cov_type if weighted else f"{cov_type} (unweighted)",
        level=level,
        design=design_text(treated_list, comparison_list),
        notes=tuple(notes),
    )
