"""Checks of numerical arguments, shared by every function that takes counts or levels.

Each check returns the value as a float or raises ``ValueError`` naming the
argument, so a caller's error reads the same whichever function received it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def check_pair(
    value: Sequence[float], name: str, *, labels: tuple[str, str] = ("pre", "post")
) -> tuple[float, float]:
    """Check one area's ``(pre, post)`` counts: two finite numbers >= 0.

    Parameters
    ----------
    value : sequence of two numbers
        The counts before and after.
    name : str
        The argument's name, for the error message.
    labels : tuple of two str, default ("pre", "post")
        What the caller calls the two periods.

    Returns
    -------
    tuple of float
    """
    try:
        pre, post = value
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a ({labels[0]}, {labels[1]}) pair of counts, got {value!r}"
        ) from None
    out = []
    for label, x in zip(labels, (pre, post), strict=True):
        try:
            x = float(x)
        except (TypeError, ValueError):
            raise ValueError(f"{name} {label} count must be a number, got {x!r}") from None
        if not math.isfinite(x) or x < 0:
            raise ValueError(f"{name} {label} count must be a finite number >= 0, got {x!r}")
        out.append(x)
    return out[0], out[1]


def _number(value, message: str) -> float:
    """``value`` as a float; ``message`` and the value in the error otherwise."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{message}, got {value!r}") from None


def check_positive(value: float, name: str) -> float:
    """Check a finite number > 0.

    Parameters
    ----------
    value : float
    name : str
        The argument's name, for the error message.

    Returns
    -------
    float
    """
    value = _number(value, f"{name} must be a number")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def check_at_least(value: float, name: str, minimum: float, why: str = "") -> float:
    """Check a finite number >= ``minimum``.

    Parameters
    ----------
    value : float
    name : str
        The argument's name, for the error message.
    minimum : float
    why : str, optional
        Why smaller values are refused, added to the error message in brackets.

    Returns
    -------
    float
    """
    value = _number(value, f"{name} must be a number >= {minimum:g}")
    if not math.isfinite(value) or value < minimum:
        reason = f" ({why})" if why else ""
        raise ValueError(f"{name} must be a finite number >= {minimum:g}, got {value!r}{reason}")
    return value


def check_probability(value: float, name: str = "alpha") -> float:
    """Check a number strictly between 0 and 1 (a significance or confidence level).

    Parameters
    ----------
    value : float
    name : str, default "alpha"
        The argument's name, for the error message.

    Returns
    -------
    float
    """
    value = _number(value, f"{name} must be a number in (0, 1)")
    if not 0 < value < 1:
        raise ValueError(f"{name} must be in (0, 1), got {value!r}")
    return value


def as_1d(values, name: str) -> np.ndarray:
    """Numbers as a one-dimensional float array, or a ``ValueError`` naming the argument."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numbers; could not convert: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr
