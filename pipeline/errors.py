"""Project exceptions.

Every problem with an input names the file, and where it can, the row
(the line number in the file as an editor shows it) and the column, so a user
can go straight to the cell to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One problem found in one input file."""

    file: str
    message: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = self.file
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column '{self.column}'"
        return f"{where}: {self.message}"


class PipelineError(Exception):
    """Base class of the errors the pipeline raises on purpose."""


class ValidationError(PipelineError):
    """Input data or a study description breaks the data contract.

    Carries every problem found, so one run lists them all.
    """

    max_listed = 25

    def __init__(self, problems: list[Problem]):
        if not problems:
            raise ValueError("ValidationError needs at least one problem")
        self.problems = list(problems)
        lines = [str(p) for p in self.problems[: self.max_listed]]
        hidden = len(self.problems) - len(lines)
        if hidden > 0:
            lines.append(f"... and {hidden} more problems")
        noun = "problem" if len(self.problems) == 1 else "problems"
        super().__init__(f"{len(self.problems)} {noun} in the input:\n  " + "\n  ".join(lines))

    @classmethod
    def single(
        cls, file: str | Path, message: str, row: int | None = None, column: str | None = None
    ) -> ValidationError:
        """Build an error holding one problem."""
        return cls([Problem(str(file), message, row, column)])


class ParameterError(PipelineError):
    """Parameters passed to a notebook do not match what it declares."""


class EstimationError(PipelineError):
    """A design cannot be estimated on the data it was given (too few periods, no events ...)."""


class InputWarning(UserWarning):
    """Something in the input that is used as it is but must be stated (an ignored column ...).

    Validation collects these into the processed study's manifest; the
    command line prints them and the reports show them.
    """
