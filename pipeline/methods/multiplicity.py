"""Adjusting a family of p-values for multiple testing (Holm, Benjamini-Hochberg)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .arguments import as_1d

_P_METHODS = ("holm", "fdr_bh")


def adjust_p_values(p_values, method: str = "holm"):
    """Adjust a family of p-values for multiple testing.

    Thin wrapper around :func:`statsmodels.stats.multitest.multipletests`
    that leaves missing values in place: NaNs are not counted in the family
    and come back as NaN.

    Parameters
    ----------
    p_values : array_like or pandas.Series
        Unadjusted p-values in [0, 1]; NaN for tests that were not run
        (e.g. a suppressed cell or a municipality without data).
    method : {"holm", "fdr_bh"}, default "holm"
        ``"holm"`` — Holm's step-down procedure, controls the family-wise
        error rate (the chance of *any* false positive). Use it for
        confirmatory claims that will be reported one by one, e.g. "the
        measures reduced crime in Sala" for each of the four municipalities
        or for a handful of pre-specified primary outcomes: every claim made
        stands on its own. It is valid under any dependence between tests and
        always at least as powerful as Bonferroni.

        ``"fdr_bh"`` — Benjamini–Hochberg, controls the false discovery
        rate (the expected share of false positives among the tests called
        significant). Use it for exploratory screening of many indicators,
        such as every crime category × place × period, where a few false
        leads among the flagged results are acceptable and will be followed
        up. Valid for independent or positively dependent tests.

    Returns
    -------
    numpy.ndarray or pandas.Series
        Adjusted p-values, same shape and order as the input (a Series keeps
        its index and name).

    Raises
    ------
    ValueError
        On an unknown method, non-numeric input, input with more than one
        dimension, or values outside [0, 1].

    Examples
    --------
    >>> adjust_p_values([0.01, float("nan"), 0.04, 0.03]).round(2).tolist()
    [0.03, nan, 0.06, 0.06]
    """
    from statsmodels.stats.multitest import multipletests

    if method not in _P_METHODS:
        raise ValueError(f"method must be one of {', '.join(_P_METHODS)}; got {method!r}")
    p = as_1d(p_values, "p_values")
    finite = ~np.isnan(p)
    if np.any(np.isinf(p)) or np.any((p[finite] < 0) | (p[finite] > 1)):
        raise ValueError("p-values must lie in [0, 1] (NaN allowed for missing tests)")
    out = np.full(p.shape, np.nan)
    if finite.any():
        out[finite] = multipletests(p[finite], method=method)[1]
    if isinstance(p_values, pd.Series):
        return pd.Series(out, index=p_values.index, name=p_values.name)
    return out
