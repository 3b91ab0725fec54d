"""Intervals for a proportion: Wilson, logit and exact Clopper-Pearson.

Each takes arrays and an optional ``level``, and returns ``(lower, upper)``
arrays; the sample size may be Kish's effective size for weighted data.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must lie between 0 and 1, got {level}")
    return float(stats.norm.ppf(0.5 + level / 2))


def wilson_interval(share, n, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a proportion; `n` may be an effective (non-integer) size.

    Parameters
    ----------
    share : float or array_like
        The estimated proportion.
    n : float or array_like
        The sample size, or Kish's effective sample size for weighted data.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    (lower, upper) : tuple of numpy.ndarray
        NaN where ``n <= 0`` or the share is missing.
    """
    z = _z(level)
    p = np.asarray(share, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        lower = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        upper = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    return lower, upper


def logit_interval(share, n, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Logit (Wald on the log-odds scale) interval; NaN when the share is 0 or 1.

    Parameters
    ----------
    share : float or array_like
        The estimated proportion.
    n : float or array_like
        The (effective) sample size.
    level : float, default 0.95
        Confidence level.

    Returns
    -------
    (lower, upper) : tuple of numpy.ndarray
    """
    z = _z(level)
    p = np.asarray(share, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = (p > 0) & (p < 1) & (n > 0)
        centre = np.log(p / (1 - p))
        half = z / np.sqrt(n * p * (1 - p))
        lower = np.where(inside, 1 / (1 + np.exp(-(centre - half))), np.nan)
        upper = np.where(inside, 1 / (1 + np.exp(-(centre + half))), np.nan)
    return lower, upper


def clopper_pearson_interval(k, n, *, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) interval for a binomial proportion.

    Parameters
    ----------
    k, n : int or array_like
        Successes and trials.
    level : float, default 0.95

    Returns
    -------
    (lower, upper) : tuple of numpy.ndarray
        0 and 1 at the edges (k = 0, k = n); NaN where n = 0.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    alpha = 1 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.where(k > 0, stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
        upper = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
    lower = np.where(n > 0, lower, np.nan)
    upper = np.where(n > 0, upper, np.nan)
    return lower, upper
