"""The final report's own texts: Markdown sections in the study folder.

A study's ``final_report.md`` (Swedish) or ``final_report.en.md`` (English)
holds the parts of the funder's final report that only the project can write:
background, aims, how the work was done, conclusions, dissemination. Each part
starts with a level-2 heading that is the section's title as the report prints
it (``## Bakgrund``, ``## Syfte och mål`` …; case does not matter). The
pipeline adds the results, goal fulfilment, limitations and methods it
computes.

Markdown is rendered with raw HTML escaped, so a text can never inject markup
or scripts into the report; links to ``javascript:`` and other harmful schemes
are disarmed by the renderer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import mistune

from ..errors import Problem, ValidationError
from ..inputs.study import STUDY_FILE, load_study
from ..inputs.text_files import read_utf8
from .i18n import t

#: The sections a project writes, in the report's order. ``english_summary`` is the
#: short English summary a Swedish report carries; an English report has none.
OWN_SECTIONS = (
    "summary",
    "english_summary",
    "background",
    "aims",
    "implementation",
    "results",
    "conclusions",
    "dissemination",
    "limitations",
    "methods",
)
#: Sections a final report cannot do without; a missing one is shown as missing.
REQUIRED_SECTIONS = frozenset(
    {
        "summary",
        "english_summary",
        "background",
        "aims",
        "implementation",
        "conclusions",
        "dissemination",
    }
)

_HEADING = re.compile(r"^##(?!#)\s*(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


def sections_for(lang: str) -> tuple[str, ...]:
    """The own-text sections of a report in ``lang``."""
    return tuple(s for s in OWN_SECTIONS if lang == "sv" or s != "english_summary")


def section_title(section: str, lang: str) -> str:
    """The heading a section has in the report, and in the texts file."""
    return t(f"final_section_{section}", lang)


@dataclass(frozen=True)
class ReportTexts:
    """The project's own texts, as safe HTML fragments by section.

    Attributes
    ----------
    path : pathlib.Path
        The Markdown file they came from.
    html : dict of str to str
        Rendered HTML (raw HTML in the source escaped) per section id.
    """

    path: Path
    html: dict[str, str]

    def missing(self, lang: str) -> list[str]:
        """Required sections the file does not have."""
        return [s for s in sections_for(lang) if s in REQUIRED_SECTIONS and s not in self.html]


class _Renderer(mistune.HTMLRenderer):
    """Headings inside a section start at level 3: level 1 and 2 belong to the report."""

    def heading(self, text: str, level: int, **attrs) -> str:
        return super().heading(text, min(6, max(3, level + 1)), **attrs)


_markdown = mistune.create_markdown(
    escape=True, renderer=_Renderer(escape=True), plugins=["table", "strikethrough"]
)


def render_markdown(text: str) -> str:
    """Markdown to HTML with every raw HTML tag escaped."""
    return _markdown(text)


def split_sections(text: str, lang: str, file: str) -> dict[str, tuple[int, str]]:
    """The file's sections as ``{section: (heading line, Markdown body)}``.

    Raises
    ------
    ValidationError
        Text before the first heading, an unknown or repeated heading; every
        problem names the file and its line.
    """
    titles = {section_title(s, lang).casefold(): s for s in sections_for(lang)}
    problems: list[Problem] = []
    found: dict[str, tuple[int, list[str]]] = {}
    current: str | None = None
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            name = match.group(1)
            section = titles.get(name.casefold())
            if section is None:
                known = ", ".join(f"'## {section_title(s, lang)}'" for s in sections_for(lang))
                problems.append(
                    Problem(file, f"unknown section '## {name}'; the sections are {known}", number)
                )
                current = None
            elif section in found:
                problems.append(
                    Problem(
                        file,
                        f"section '## {name}' appears twice (first on line {found[section][0]})",
                        number,
                    )
                )
                current = None
            else:
                found[section] = (number, [])
                current = section
            continue
        if current is not None:
            found[current][1].append(line)
        elif line.strip() and not problems:
            problems.append(Problem(file, "text before the first section heading ('## …')", number))
    if problems:
        raise ValidationError(problems)
    return {s: (row, "\n".join(body).strip()) for s, (row, body) in found.items()}


def read_texts(path: str | Path, lang: str) -> ReportTexts:
    """Read and render a final report's own texts.

    Parameters
    ----------
    path
        The Markdown file (UTF-8).
    lang
        The report language: its section titles are the headings looked for.

    Raises
    ------
    ValidationError
        A missing or unreadable file, or a problem :func:`split_sections` finds.
    """
    path = Path(path)
    name = str(path)
    if not path.is_file():
        raise ValidationError.single(
            name, "file not found: the final report's own texts (see report.texts in study.yml)"
        )
    text = read_utf8(path, name)
    sections = split_sections(text, lang, name)
    return ReportTexts(
        path, {s: render_markdown(body) for s, (_, body) in sections.items() if body}
    )


def check_report_texts(study_dir: str | Path) -> None:
    """Check a study's final-report texts before anything runs.

    Every texts file ``study.yml``'s ``report`` section names and that exists is
    read; at least one must exist. A study without a ``report`` section has
    nothing to check.

    Raises
    ------
    ValidationError
        Every problem of every texts file (or of ``study.yml``), together.
    """
    study_dir = Path(study_dir)
    info = load_study(study_dir).report
    if info is None:
        return
    problems: list[Problem] = []
    existing = {lang: study_dir / name for lang, name in info.texts.items()}
    existing = {lang: path for lang, path in existing.items() if path.is_file()}
    if not existing:
        names = ", ".join(sorted(info.texts.values()))
        problems.append(
            Problem(
                str(study_dir / STUDY_FILE),
                f"report: none of the final report's texts files exists ({names})",
            )
        )
    for lang, path in existing.items():
        try:
            read_texts(path, lang)
        except ValidationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ValidationError(problems)
