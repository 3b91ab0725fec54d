"""Lean quasi-likelihood fits for the many small refits of placebo steps.

The drift variance of the time series and the controlled comparison refits the
model at every fake start in the pre-period: dozens of fits per estimate, where
statsmodels' per-fit overhead (about 9 ms) dominates. These IRLS loops return
the same coefficient and quasi-likelihood standard error (dispersion floored at
1) for one column; ``tests/test_glm.py`` checks them against statsmodels.
"""

from __future__ import annotations

import numpy as np

MAX_ITERATIONS = 50
TOLERANCE = 1e-10


def _irls(y, x, offset, weights, mean_of, variance_of, start_eta):
    eta = start_eta
    beta = np.zeros(x.shape[1])
    for _ in range(MAX_ITERATIONS):
        eta = np.clip(eta, -30, 30)  # keeps exp() finite when a fit runs off to a boundary
        mu = mean_of(eta)
        var = variance_of(mu)
        # Canonical links: working weight = var, working response = eta - offset + (y - mu) / var.
        w = weights * var
        z = eta - offset + (y - mu) / var
        sw = np.sqrt(w)
        new_beta, *_ = np.linalg.lstsq(x * sw[:, None], z * sw, rcond=None)
        eta = offset + x @ new_beta
        if np.max(np.abs(new_beta - beta)) < TOLERANCE:
            beta = new_beta
            break
        beta = new_beta
    mu = mean_of(eta)
    var = variance_of(mu)
    w = weights * var
    information = x.T @ (x * w[:, None])
    pearson = np.sum(weights * (y - mu) ** 2 / var)
    dispersion = max(1.0, pearson / (len(y) - x.shape[1]))
    try:
        covariance = np.linalg.inv(information) * dispersion
    except np.linalg.LinAlgError:
        # A degenerate fit (a column whose rows all have zero expected count): no usable step.
        covariance = np.full(information.shape, np.nan)
    return beta, covariance


def poisson_step(
    counts: np.ndarray, exog: np.ndarray, offset: np.ndarray | None, column: int
) -> tuple[float, float]:
    """Coefficient and quasi-Poisson standard error of ``exog[:, column]`` (log link)."""
    y = np.asarray(counts, dtype=float)
    offset = np.zeros(len(y)) if offset is None else np.asarray(offset, dtype=float)
    start = np.log(np.maximum(y, 0.5))
    beta, covariance = _irls(y, exog, offset, np.ones(len(y)), np.exp, lambda mu: mu, start)
    return float(beta[column]), float(np.sqrt(covariance[column, column]))


def binomial_step(
    successes: np.ndarray, totals: np.ndarray, exog: np.ndarray, offset: np.ndarray, column: int
) -> tuple[float, float]:
    """Coefficient and quasi-binomial standard error of ``exog[:, column]`` (logit link).

    ``successes / totals`` is modelled with ``totals`` as weights; rows with no
    trials must be removed beforehand.
    """
    n = np.asarray(totals, dtype=float)
    p = np.asarray(successes, dtype=float) / n
    start = np.log((p * n + 0.5) / ((1 - p) * n + 0.5))

    def mean(eta):
        return 1 / (1 + np.exp(-eta))

    beta, covariance = _irls(
        p, exog, np.asarray(offset, dtype=float), n, mean, lambda mu: mu * (1 - mu), start
    )
    return float(beta[column]), float(np.sqrt(covariance[column, column]))
