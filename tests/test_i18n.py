"""The string catalogue."""

from __future__ import annotations

import string

import pytest

from pipeline.format import number, p_value
from pipeline.report.i18n import LANGUAGES, catalogue, t


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_text_exists_in_every_language_with_the_same_placeholders():
    for key, texts in catalogue().items():
        assert set(texts) == set(LANGUAGES), key
        assert _fields(texts["sv"]) == _fields(texts["en"]), key


def test_swedish_is_the_default_and_numbers_use_a_decimal_comma():
    assert t("status_ok") == "klar"
    assert t("status_ok", "en") == "done"
    assert number(0.834, "sv") == "0,83"
    assert number(0.834, "en") == "0.83"
    assert p_value(0.0001, "sv") == "< 0,001"


def test_unknown_language_and_key_are_errors():
    with pytest.raises(ValueError, match="de"):
        t("status_ok", "de")
    with pytest.raises(KeyError, match="no_such_text"):
        t("no_such_text")


def test_every_design_and_sms_level_used_has_a_text():
    from pipeline.designs import DESIGNS

    for design in DESIGNS:
        assert t(f"design_{design.name}", "sv")
        assert t(f"method_{design.name}", "en")
        assert t(f"sms_{design.sms_level}", "sv")


def test_command_line_languages_match_the_catalogue():
    from pipeline.run import cli

    assert cli.LANGUAGES == LANGUAGES


def test_command_line_demo_seed_matches_the_generator():
    from pipeline.run import cli
    from pipeline.validation.demo import DEMO_SEED

    assert cli.DEMO_SEED == DEMO_SEED
