"""The string catalogue: every report text in Swedish (default) and English."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

from ..format import DEFAULT_LANGUAGE, LANGUAGES

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
