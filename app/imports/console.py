"""An import on a terminal: a progress bar for large files, and the report as tables."""

import os
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from app.imports.schemas import ImportProblem, ImportRead

# Below this many rows an import takes a moment, and a bar would only flicker.
LARGE_FILE_ROWS = 1000
_STAGES = {"rows": "rows parsed", "sitreps": "sitreps submitted"}
# The width of a report written to a file or a pipe: one a program reads or a person
# searches, so every line whole rather than wrapped at the 80 columns rich assumes when
# there is no terminal to measure. Tables are only as wide as their contents.
PIPED_WIDTH = 100_000


class ProgressBar:
    """A service ``Progress`` callback that draws a bar on standard error once a file
    turns out to be large: rows parsed, then sitreps submitted."""

    def __init__(self, *, min_rows: int = LARGE_FILE_ROWS) -> None:
        self.min_rows = min_rows
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self._progress is None:
            if stage != "rows" or total < self.min_rows:
                return
            self._progress = Progress(
                TextColumn("{task.description:>18}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._progress.start()
        if stage not in self._tasks:
            self._tasks[stage] = self._progress.add_task(_STAGES.get(stage, stage), total=total)
        self._progress.update(self._tasks[stage], completed=done, total=total)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()


def report_console() -> Console:
    """Standard output: a terminal's width, a pipe's without limit (COLUMNS decides when
    it is set)."""
    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPED_WIDTH
    return console


def render(report: ImportRead, console: Console | None = None) -> None:
    console = console or report_console()
    kind = report.format.upper() + (" with HXL hashtags" if report.hxl else "")
    console.print(
        f"{kind}: {report.rows} rows, {report.rows_skipped} skipped, "
        f"{report.problems_total} problems; {report.sitreps} sitreps "
        f"({report.accepted} valid, {report.refused} refused), {report.lines} lines"
    )
    verb = "to " if report.dry_run else ""
    console.print(
        f"mode {report.mode.value}: {report.created} {verb}create, {report.amended} "
        f"{verb}amend, {report.unchanged} unchanged, {report.refused} refused, "
        f"{report.rows_skipped} rows skipped",
        highlight=False,
    )
    console.print(
        "columns: " + ", ".join(f"{name}={label}" for name, label in report.columns.items()),
        highlight=False,
    )
    if report.results:
        sitreps = Table(title="Sitreps", title_justify="left")
        for heading in ("country", "crisis", "period", "lines", "outcome", "sitrep", "rows"):
            sitreps.add_column(
                heading, no_wrap=heading in ("period", "outcome"), min_width=len(heading)
            )
        for result in report.results:
            sitreps.add_row(
                result.country,
                str(result.crisis_id or ""),
                f"{result.period_start}..{result.period_end}",
                str(len(result.lines)),
                f"{result.outcome} ({result.status})",
                str(result.sitrep_id or "")
                or (result.problem.detail if result.problem and result.status != 422 else ""),
                _ranges(result.rows),
            )
        console.print(sitreps)
    changes = [(r, change) for r in report.results for change in r.changes]
    if changes:
        table = Table(title="Changes", title_justify="left")
        for heading in ("sitrep", "period", "line", "field", "old", "new"):
            table.add_column(heading)
        for result, change in changes:
            table.add_row(
                str(result.sitrep_id or ""),
                f"{result.period_start}..{result.period_end}",
                change.line,
                change.field or change.change,
                "" if change.old is None else str(change.old),
                "" if change.new is None else str(change.new),
            )
        console.print(table)
    for note in report.notes:
        # Notes are sentences: printed as such, not squeezed into a table's column.
        where = f"rows {_ranges(note.rows)}" + (f", {note.column}" if note.column else "")
        console.print(f"note ({where}): {note.note}", highlight=False)
    if report.problems:
        problems = Table(title="Problems", title_justify="left")
        for heading in ("row", "column", "reason"):
            problems.add_column(heading)
        for problem in report.problems:
            problems.add_row(str(problem.row or ""), problem.column or "", problem.reason)
        console.print(problems)
        if report.problems_total > len(report.problems):
            console.print(
                f"and {report.problems_total - len(report.problems):,} more problems "
                f"(the first {len(report.problems):,} are listed)"
            )
    if report.skipped:
        skipped = Table(title="Skipped rows", title_justify="left")
        for heading in ("rows", "column", "reason"):
            skipped.add_column(heading)
        for (column, reason), rows in _grouped(report.skipped).items():
            skipped.add_row(_ranges(rows), column, reason)
        console.print(skipped)
        if report.rows_skipped > len(report.skipped):
            console.print(
                f"and {report.rows_skipped - len(report.skipped):,} more rows skipped "
                f"(the first {len(report.skipped):,} are listed)"
            )
    if report.dry_run:
        console.print("dry run: nothing was written")
    elif report.written:
        for verb, written in (
            ("created", report.created_sitrep_ids),
            ("amended", report.amended_sitrep_ids),
        ):
            if written:
                ids = ", ".join(str(i) for i in written)
                console.print(f"{verb} {len(written)} sitreps: {ids}")
    elif report.strict and report.sitreps:
        console.print("strict: nothing was written, because of the problems above")
    elif report.unchanged and not report.refused:
        console.print("nothing was written: every sitrep is unchanged")
    else:
        console.print("nothing was written")


def _grouped(problems: list[ImportProblem]) -> dict[tuple[str, str], list[int]]:
    grouped: dict[tuple[str, str], list[int]] = {}
    for problem in problems:
        grouped.setdefault((problem.column or "", problem.reason), []).append(problem.row or 0)
    return grouped


def _ranges(rows: list[int]) -> str:
    """[3, 4, 5, 9] as "3-5, 9"."""
    spans: list[list[int]] = []
    for row in sorted(set(rows)):
        if spans and row == spans[-1][1] + 1:
            spans[-1][1] = row
        else:
            spans.append([row, row])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)
