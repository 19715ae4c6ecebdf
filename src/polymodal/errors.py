"""Project error types. Every user-facing failure is one of these, with a message
that names the file, the row, the column and what was wrong."""

from __future__ import annotations

from dataclasses import dataclass


class PolymodalError(ValueError):
    """Base class: a problem the user can fix (bad input, bad option, bad run)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one cell of a table. `row` is the 0-based row position."""

    row: int
    column: str
    reason: str
    value: str = ""

    def __str__(self) -> str:
        shown = f" (value {self.value!r})" if self.value else ""
        return f"row {self.row}, column {self.column!r}: {self.reason}{shown}"


class TableError(PolymodalError):
    """The table as a whole cannot be used (unreadable file, unknown column, ...)."""


class ValidationError(PolymodalError):
    """The table has bad cells. Holds every problem found, not only the first."""

    FIT_HINT = "Fix these cells, or pass --on-error skip to drop the rows (they are written to skipped.csv)."

    def __init__(self, source: str, problems: list[Problem], limit: int = 20, hint: str | None = None):
        self.source = source
        self.problems = list(problems)
        shown = "\n".join(f"  - {p}" for p in self.problems[:limit])
        more = len(self.problems) - limit
        tail = f"\n  ... and {more} more" if more > 0 else ""
        hint = "\n" + (self.FIT_HINT if hint is None else hint)
        super().__init__(f"{source}: {len(self.problems)} problem(s) found\n{shown}{tail}{hint}")
