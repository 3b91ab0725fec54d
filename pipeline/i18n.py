"""The string catalogue: every report text in Swedish (default) and English."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from babel.numbers import format_decimal

from .paths import LANGUAGES

#: The locale whose number conventions each language follows.
LOCALES = {"sv": "sv_SE", "en": "en_GB"}
DEFAULT_LANGUAGE = "sv"
CATALOGUE_FILE = Path(__file__).with_name("strings.yml")


@lru_cache(maxsize=1)
def catalogue() -> dict[str, dict[str, str]]:
    """The catalogue as ``{key: {language: text}}``."""
    with open(CATALOGUE_FILE, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def check_language(lang: str) -> str:
    """``lang`` if it is a report language, else a ValueError naming the choices."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown report language '{lang}'; use one of {', '.join(LANGUAGES)}")
    return lang


def t(key: str, lang: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """The text for ``key`` in ``lang``, with ``values`` filled in."""
    check_language(lang)
    try:
        text = catalogue()[key][lang]
    except KeyError:
        raise KeyError(f"no text '{key}' in language '{lang}' in {CATALOGUE_FILE.name}") from None
    return text.format(**values) if values else text


def number(value: float, lang: str = DEFAULT_LANGUAGE, digits: int = 2) -> str:
    """A number as the language writes it: decimal comma and a space between thousands in
    Swedish, a point and a comma in English; a value that rounds to zero has no sign."""
    check_language(lang)
    value = round(float(value), digits)
    if value == 0:
        value = 0.0  # not "-0,0"
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    # A true minus sign: a hyphen is easily lost or broken across lines.
    return format_decimal(value, format=pattern, locale=LOCALES[lang]).replace("-", "\u2212")


def p_value(value: float, lang: str = DEFAULT_LANGUAGE) -> str:
    if value != value:  # NaN
        return "–"
    if value < 0.001:
        return "< " + number(0.001, lang, 3)
    return number(value, lang, 3)


def p_text(value: float, lang: str = DEFAULT_LANGUAGE) -> str:
    """``p = 0,012`` or ``p < 0,001``, for running text."""
    text = p_value(value, lang)
    return f"p {text}" if text.startswith("<") else f"p = {text}"
