"""How much a series' own drift the placebo steps of its pre-period can measure.

A design that refits its step at every fake start in the pre-period gets ``J``
placebo steps, but neighbouring fake starts share almost all their data: their
estimates are strongly correlated, so ``J`` overstates what they know about the
drift many times over. Under the working model the steps are linear functions
of the same counts, so their correlation follows from the design matrices and
the fitted weights (one-step GLM approximation)::

    cov(b_i, b_j) ~ [(X_i' W X_i)^-1 X_i' W X_j (X_j' W X_j)^-1]_(step, step)

The drift estimate is the placebo steps' mean squared z-statistic. For
correlated standard normal ``z_i`` the squares correlate as ``rho_ij^2``, so
that mean carries as much information as ``J_eff = J^2 / sum_ij rho_ij^2``
independent squares (Satterthwaite): its reference is a t on ``J_eff`` degrees
of freedom, and below :data:`MIN_EFFECTIVE_PLACEBOS` no drift term is
estimated at all (a t on 1-3 degrees of freedom gives intervals that span
orders of magnitude).

The rank of the real step among the placebo steps (placebo-in-time p-value)
needs no model, but it cannot go below ``1 / (J + 1)``;
:func:`rank_p_value` returns that floor with it so that a p-value that could
never reach the test level is not read as a test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Fewest effective placebo steps for a drift term (and its t reference).
MIN_EFFECTIVE_PLACEBOS = 5.0


@dataclass(frozen=True)
class PlaceboFit:
    """One placebo step: its coefficient, its standard error and what it was fitted on.

    Attributes
    ----------
    coef, std_error : float
        The step's coefficient and quasi-likelihood standard error.
    exog : numpy.ndarray
        The fake start's design matrix (rows: the informative periods).
    column : int
        The step's column in ``exog``.
    """

    coef: float
    std_error: float
    exog: np.ndarray
    column: int


def step_correlation(fits: Sequence[PlaceboFit], weights: np.ndarray) -> np.ndarray:
    """Correlation of the placebo steps under the working model.

    Parameters
    ----------
    fits : sequence of PlaceboFit
        The placebo steps, all fitted on the same rows.
    weights : numpy.ndarray
        GLM working weights of those rows (Poisson: the fitted means;
        binomial: ``n p (1 - p)``) under a fit without a step.

    Returns
    -------
    numpy.ndarray
        ``J x J`` correlation matrix.
    """
    w = np.asarray(weights, dtype=float)
    # Row j of `influence`: how each period's residual moves step j (one IRLS step).
    influence = []
    for fit in fits:
        information = fit.exog.T @ (fit.exog * w[:, None])
        row = np.linalg.solve(information, fit.exog.T)[fit.column]
        influence.append(row)
    a = np.asarray(influence)
    covariance = (a * w) @ a.T
    sd = np.sqrt(np.diag(covariance))
    return covariance / np.outer(sd, sd)


def effective_placebos(correlation: np.ndarray) -> float:
    """``J^2 / sum rho_ij^2``: independent placebo steps the correlated ones are worth."""
    rho = np.asarray(correlation, dtype=float)
    if rho.size == 0:
        return 0.0
    return float(rho.shape[0] ** 2 / np.sum(rho**2))


def mean_squared_z(fits: Sequence[PlaceboFit]) -> float:
    """The placebo steps' mean squared z-statistic, at least 1."""
    z = np.array([f.coef / f.std_error for f in fits])
    # Less spread than the model says is sampling noise, not a reason to narrow the interval.
    return max(1.0, float(np.mean(z**2))) if z.size else 1.0


def excess_variance(fits: Sequence[PlaceboFit]) -> float:
    """The placebo steps' mean square beyond their sampling variances, at least 0."""
    if not fits:
        return 0.0
    b = np.array([f.coef for f in fits])
    s = np.array([f.std_error for f in fits])
    return max(0.0, float(np.mean(b**2) - np.mean(s**2)))


def rank_p_value(observed: float, placebo: Sequence[float]) -> tuple[float, float]:
    """Placebo rank p-value of ``|observed|`` among ``|placebo|``, and the smallest it could be.

    Returns
    -------
    tuple of float
        ``((1 + #{|placebo| >= |observed|}) / (J + 1), 1 / (J + 1))``;
        ``(nan, nan)`` without placebos.
    """
    values = np.abs(np.asarray(placebo, dtype=float))
    if values.size == 0:
        return float("nan"), float("nan")
    extreme = int(np.sum(values >= abs(observed)))
    return (1 + extreme) / (values.size + 1), 1 / (values.size + 1)


def rank_interval(
    coef: float, se: float, placebo_z: Sequence[float], alpha: float = 0.05
) -> tuple[float, float] | None:
    """The values of the step the placebo rank test does not reject, on the log scale.

    A test rejects when its p-value is below ``alpha`` (as everywhere in the
    pipeline), so ``d`` is kept when the rank p-value of ``(coef - d) / se``
    among the placebo z-statistics is at least ``alpha``: ``coef -/+ se *
    |z|_(m)``, the ``m``-th largest placebo ``|z|`` with ``m = ceil(alpha (J +
    1) - 1)``.

    Returns
    -------
    tuple of float or None
        ``(low, high)``; None when the test cannot reject at ``alpha`` (its
        smallest p-value ``1 / (J + 1)`` is not below ``alpha``), so the
        interval is unbounded.
    """
    values = np.sort(np.abs(np.asarray(placebo_z, dtype=float)))[::-1]
    m = int(np.ceil(alpha * (values.size + 1) - 1 - 1e-9))
    if m < 1:
        return None
    half = se * values[m - 1]
    return coef - half, coef + half


def placebo_note(where: str, p_value: float, p_min: float, n: int, alpha: float = 0.05) -> str:
    """The placebo p-value in words, saying when it cannot be a test at ``alpha``."""
    text = f"placebo-{where} p = {p_value:.2f} ({n} placebos"
    if p_min < alpha:
        return text + ")"
    return (
        text + f"; it cannot go below {p_min:.2f}, so it is no test at the {100 * alpha:g} % level)"
    )


def random_walk_load(exog: np.ndarray, weights: np.ndarray, column: int) -> float:
    """Variance a unit random walk in the log level adds to the step, per unit innovation variance.

    If the series' log level wanders as a random walk with innovation variance
    ``sigma2`` per period (beyond what the model's trend and season follow),
    the step estimate (one-step GLM approximation, influence row ``a``) gains
    the variance ``sigma2 * a' M a`` with ``M_ij = min(i, j)``. The model's
    intercept makes ``a`` sum to zero, so where the walk starts does not matter.

    Parameters
    ----------
    exog : numpy.ndarray
        The design matrix, one row per period in time order (consecutive).
    weights : numpy.ndarray
        GLM working weights of the rows.
    column : int
        The step's column.

    Returns
    -------
    float
        ``a' M a``.
    """
    w = np.asarray(weights, dtype=float)
    information = exog.T @ (exog * w[:, None])
    a = np.linalg.solve(information, exog.T)[column] * w
    # a' M a with M = min(i, j) = sum_k [k <= i][k <= j]: the squared tail sums of a.
    tail = np.cumsum(a[::-1])[::-1]
    return float(np.sum(tail**2))


# --------------------------------------------------------------------------- a series' own random walk

#: Longest lag of the differences the own random-walk variance is measured from: a year, so the
#: longest ones see a whole season and the many short ones the walk's smallest steps.
MAX_LAG = 12


@dataclass(frozen=True)
class OwnRandomWalk:
    """A series' own random-walk variance a period, measured from its pre-period.

    Attributes
    ----------
    variance : float
        Unbiased moment estimate of the innovation variance (may be negative
        when sampling noise swamps the walk).
    dispersion : float
        The estimated factor on the known sampling variances (1: Poisson).
    quadratic : numpy.ndarray
        ``A`` with ``variance = r' A r`` for the log ratios ``r``.
    walk, noise : numpy.ndarray
        ``G`` (``min(t_i, t_j)``) and ``N`` (the known sampling variances on
        the diagonal): the log ratios' covariance is ``sigma2 G + phi N``.
    """

    variance: float
    dispersion: float
    quadratic: np.ndarray
    walk: np.ndarray
    noise: np.ndarray

    def degrees_of_freedom(self, sigma2: float) -> float:
        """Information of :attr:`variance` as a scaled chi-square's degrees of freedom.

        ``r' A r`` of a normal ``r`` has variance ``2 tr(A S A S)``
        (``S = sigma2 G + phi N``, ``phi`` floored at 1); an estimate distributed as
        ``sigma2 chi2_nu / nu`` has variance ``2 sigma2^2 / nu``, so ``nu =
        sigma2^2 / tr(A S A S)``. It is evaluated at an assumed ``sigma2``, not
        at the estimate, which can be zero or negative.
        """
        covariance = sigma2 * self.walk + max(self.dispersion, 1.0) * self.noise
        product = self.quadratic @ covariance
        nu = sigma2**2 / np.trace(product @ product)
        return float(nu) if np.isfinite(nu) else 0.0


def own_random_walk(
    log_ratio: np.ndarray,
    sampling_variance: np.ndarray,
    months: np.ndarray,
    mean_design: np.ndarray,
    prior_scale: float,
    max_lag: int = MAX_LAG,
) -> OwnRandomWalk:
    """The random-walk variance of a log ratio from its differences at lags 1 to ``max_lag``.

    Local-level model: ``r_t = x_t' b + w_t + e_t``, ``w`` a random walk with
    innovation variance ``sigma2`` a month, ``e_t`` independent sampling noise
    of variance ``phi v_t`` with ``v_t`` known (``1 / (n p (1 - p))`` for an
    empirical logit). Every difference ``r_s - r_t`` is projected off the
    mean design ``X`` (the design's intercept and trend), so its square has
    expectation ``sigma2 g + phi m`` exactly, with ``g`` and ``m`` following
    from ``G = min(t_i, t_j)`` and ``N = diag(v)``. Weighted least squares of
    the squares on ``(g, m)`` gives ``sigma2`` and ``phi`` at once: sampling
    noise adds the same to every lag, the walk grows with the lag. The
    weights ``1 / E[square]^2`` are taken at ``prior_scale`` and ``phi = 1``.

    A state-space maximum-likelihood fit would use the data a little better,
    but needs an optimiser per target and indicator and has no closed-form
    information at the boundary ``sigma2 = 0``, where small places sit; this
    estimator is a quadratic form, unbiased, and its variance is exact for
    normal data (:meth:`OwnRandomWalk.degrees_of_freedom`).

    Parameters
    ----------
    log_ratio : numpy.ndarray
        The observed log ratios (months without events left out).
    sampling_variance : numpy.ndarray
        Their known sampling variances ``v_t``.
    months : numpy.ndarray
        The months' positions in time (gaps where months were left out).
    mean_design : numpy.ndarray
        ``X``: the columns of the mean (intercept, and trend if any).
    prior_scale : float
        The random-walk variance expected before looking at the series.
    max_lag : int
        Longest lag in months.
    """
    r = np.asarray(log_ratio, dtype=float)
    v = np.asarray(sampling_variance, dtype=float)
    t = np.asarray(months, dtype=float)
    x = np.asarray(mean_design, dtype=float)
    n = len(r)
    if n < x.shape[1] + 3:
        raise ValueError(f"{n} months cannot separate a random walk from noise and the mean")
    residual_maker = np.eye(n) - x @ np.linalg.pinv(x)
    first, second = np.triu_indices(n, 1)
    close = (t[second] - t[first]) <= max_lag
    first, second = first[close], second[close]
    # Row k of `contrasts`: the difference r_second - r_first with the mean projected off.
    contrasts = residual_maker[second] - residual_maker[first]
    walk = np.minimum.outer(t - t[0] + 1, t - t[0] + 1)
    noise = np.diag(v)
    g = np.sum((contrasts @ walk) * contrasts, axis=1)
    m = (contrasts**2) @ v
    squares = (contrasts @ r) ** 2
    weights = 1 / (prior_scale * g + m) ** 2
    regressors = np.column_stack([g, m])
    information = regressors.T @ (regressors * weights[:, None])
    # sigma2 = c' squares: the first row of the weighted least-squares solution.
    c = np.linalg.solve(information, (regressors * weights[:, None]).T)[0]
    phi = np.linalg.solve(information, regressors.T @ (weights * squares))[1]
    quadratic = (contrasts * c[:, None]).T @ contrasts
    return OwnRandomWalk(
        variance=float(c @ squares),
        dispersion=float(phi),
        quadratic=quadratic,
        walk=walk,
        noise=noise,
    )


@dataclass(frozen=True)
class RandomWalkPrior:
    """Scaled inverse chi-square prior of the random-walk variance across places.

    Attributes
    ----------
    scale : float
        ``sigma0^2``: the variance pooled across the calibration series.
    df : float
        ``nu0``: how many degrees of freedom of a place's own estimate the
        prior is worth (from the spread of the places' own estimates).
    """

    scale: float
    df: float

    def posterior(self, own: OwnRandomWalk | None, iterations: int = 3) -> tuple[float, float]:
        """Posterior scale ``(nu0 sigma0^2 + nu s^2) / (nu0 + nu)`` and its ``nu0 + nu``.

        The own estimate ``s^2`` is floored at 0; its degrees of freedom ``nu``
        are evaluated at the posterior scale, starting from the prior's (a few
        fixed-point steps). Without an own estimate: the prior.
        """
        if own is None:
            return self.scale, self.df
        own_variance = max(own.variance, 0.0)
        scale = self.scale
        for _ in range(iterations):
            nu = own.degrees_of_freedom(scale)
            scale = (self.df * self.scale + nu * own_variance) / (self.df + nu)
        return float(scale), float(self.df + nu)
