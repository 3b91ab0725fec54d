"""How numbers, p-values and result summaries are written, in one place.

The report, the result objects' summaries and the HTML fragments they show in a
notebook all use these functions, so a p-value reads the same everywhere.
This module imports nothing from the rest of the package, so every layer may
use it.
"""

from __future__ import annotations

import math
from html import escape

import pandas as pd
from babel.numbers import format_decimal

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"
#: The locale whose number conventions each language follows.
LOCALES = {"sv": "sv_SE", "en": "en_GB"}


def summary_html(summary: str, frame: pd.DataFrame, *, float_format: str | None = None) -> str:
    """A plain-text summary above its table, for a result's ``_repr_html_``.

    Parameters
    ----------
    summary : str
    frame : pandas.DataFrame
    float_format : str, optional
        A %-format for the table's numbers (``"%.4g"``); pandas' own by default.

    Returns
    -------
    str
    """
    table = frame.to_html(index=False, na_rep="–", float_format=float_format)
    return f"<pre>{escape(summary)}</pre>\n{table}"


def number(value: float, lang: str = DEFAULT_LANGUAGE, digits: int = 2) -> str:
    """A number as the language writes it: decimal comma and a space between thousands in
    Swedish, a point and a comma in English, a true minus sign; a value that rounds to zero
    has no sign."""
    if lang not in LOCALES:
        raise ValueError(f"unknown report language '{lang}'; use one of {', '.join(LANGUAGES)}")
    value = round(float(value), digits)
    if value == 0:
        value = 0.0  # not "-0,0"
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    # A true minus sign: a hyphen is easily lost or broken across lines.
    return format_decimal(value, format=pattern, locale=LOCALES[lang]).replace("-", "\u2212")


def p_value(value: float, lang: str = DEFAULT_LANGUAGE) -> str:
    """``0,012`` or ``< 0,001`` (three decimals); "–" when missing."""
    if value is None or value != value:  # missing or NaN
        return "–"
    if value < 0.001:
        return "< " + number(0.001, lang, 3)
    return number(value, lang, 3)


def p_text(value: float, lang: str = DEFAULT_LANGUAGE) -> str:
    """``p = 0,012`` or ``p < 0,001``, for running text."""
    text = p_value(value, lang)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def interval_text(low: float, high: float) -> str:
    """``[0.81, 1.02]``, or "not defined" when a bound is not finite."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "not defined"
    return f"[{low:.2f}, {high:.2f}]"
