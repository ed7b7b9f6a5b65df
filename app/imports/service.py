"""File import of 5W sheets: one row per sitrep line.

Each row is read into a line (names resolved to codes, figures read as ``figures``
declares); rows are grouped into sitreps by country, crisis and period; each sitrep is then
written in a savepoint of its own, with every rule of a single submission: submitted as
``POST /api/v1/sitreps`` submits it or, when the mode is update or upsert and a live sitrep
of the same country, crisis and period shares a slot with it, amended as
``PUT /api/v1/sitreps/{id}`` amends it (with the ETag just read), or left alone when no
figure differs. A sitrep any of whose rows has a problem is refused whole. A dry run, and
a strict import with any problem, do all of it and then roll everything back, so a dry run
reports what the real run does.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal, TypeVar

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from app.audit import service as audit
from app.auth import permissions
from app.auth.models import Role, User
from app.errors import (
    AppError,
    Conflict,
    Forbidden,
    NotFound,
    ValidationFailed,
    problem_body,
)
from app.imports import names, sheets
from app.imports.columns import DISAGGREGATION, INDICATORS, Layout, locate
from app.imports.names import OutsideSectors, Unresolved
from app.imports.schemas import (
    Combine,
    Figures,
    ImportedChange,
    ImportedLine,
    ImportedSitrep,
    ImportNote,
    ImportOptions,
    ImportProblem,
    ImportRead,
    Mode,
)
from app.imports.sheets import SheetRow, Upload
from app.openapi import Problem
from app.reference import catalog as reference
from app.sitreps import batches, bodies, reads, rules
from app.sitreps import service as sitreps
from app.sitreps.models import Sitrep, SitrepLine
from app.sitreps.schemas import Disaggregation, LineIn, SitrepCreate

# (stage, done, total): stage "rows" while rows are read, "sitreps" while they are submitted.
Progress = Callable[[str, int, int], None]
SitrepKey = tuple[str, int | None, date, date]
Action = Literal["create", "amend", "unchanged", "refuse"]
T = TypeVar("T")

_THOUSANDS = re.compile(r"^\d{1,3}(?:[,' \u00a0\u202f]\d{3})+$")
_DIGITS = re.compile(r"^\d{1,18}$")
_AMOUNT = re.compile(r"^\d{1,15}(?:\.\d{1,6})?$")
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[ T][\d:.]*)?$")
_PROGRESS_EVERY = 250
# The problems and skipped rows a report lists, the first by row; it counts them all. A
# sheet of many bad rows answers with a report of bounded size.
REPORT_ROWS = 1000
# The figures of a line that an amendment can change; the rest of a line is its slot.
_COMPARED = (
    "people_reached",
    "people_reached_new",
    "people_reached_cumulative",
    "people_targeted",
    "women",
    "men",
    "girls",
    "boys",
    "persons_with_disabilities",
    "indicators",
)


class NoMatch(NotFound):
    """mode=update, and no live sitrep matches the rows."""


@dataclass(slots=True)
class _Line:
    rows: list[int]
    line: LineIn


@dataclass(slots=True)
class _Draft:
    """A sitrep in the making: its rows, its lines by slot, and, once submitted, its id or
    the problem that refused it. ``problems`` are its rows' problems, row by row."""

    key: SitrepKey
    rows: list[int] = field(default_factory=list)
    lines: dict[str, _Line] = field(default_factory=dict)
    problems: list[ImportProblem] = field(default_factory=list)
    action: Action = "refuse"
    sitrep_id: int | None = None
    changes: list[ImportedChange] = field(default_factory=list)
    error: AppError | None = None

    def document(self) -> dict[str, Any]:
        """The sitrep as POST /api/v1/sitreps takes it."""
        country, crisis_id, start, end = self.key
        return {
            "country": country,
            "crisis_id": crisis_id,
            "period_start": start,
            "period_end": end,
            "lines": [
                entry.line.model_dump(exclude_none=True, exclude_defaults=True)
                for entry in self.lines.values()
            ],
        }


@dataclass(slots=True)
class _Row:
    """One row read: its sitrep (when country, crisis and period could be read), its line
    (when everything could), and its problems; or why it is skipped."""

    key: SitrepKey | None = None
    line: LineIn | None = None
    problems: list[ImportProblem] = field(default_factory=list)
    skipped: ImportProblem | None = None
    notes: list[tuple[str | None, str]] = field(default_factory=list)  # (column, note)


def run(
    session: Session,
    *,
    upload: Upload,
    options: ImportOptions,
    user: User,
    progress: Progress | None = None,
) -> ImportRead:
    permissions.require_role(user, Role.field, Role.admin)
    limits = sheets.Limits.configured()
    sheet = sheets.read(upload, limits)
    layout = locate(sheet, options)
    orphans: list[ImportProblem] = []  # problems of rows that belong to no sitrep
    skipped: list[ImportProblem] = []
    drafts: dict[SitrepKey, _Draft] = {}
    noted: dict[tuple[str | None, str], list[int]] = {}
    total = len(sheet.rows)
    for done, row in enumerate(sheet.rows, start=1):
        read = _read_row(row, layout, options)
        for note in read.notes:
            noted.setdefault(note, []).append(row.number)
        if read.skipped is not None:
            skipped.append(read.skipped)
        elif read.key is None:
            orphans += read.problems
        else:
            _add(drafts.setdefault(read.key, _Draft(read.key)), row.number, read, layout, options)
        if progress is not None and (done % _PROGRESS_EVERY == 0 or done == total):
            progress("rows", done, total)
        if done % sheets.CHECK_EVERY == 0:
            limits.check_time()
    notes = [
        ImportNote(kind="pcode", rows=rows, column=column, note=note)
        for (column, note), rows in noted.items()
    ]
    notes += _figures_notes(list(drafts.values()), layout, options)
    notes += _period_reach(list(drafts.values()), layout, options)
    written = _submit(
        session,
        drafts=list(drafts.values()),
        layout=layout,
        user=user,
        options=options,
        clean=not orphans,
        progress=progress,
    )
    results = [_result(draft, written=written) for draft in drafts.values()]
    problems = sorted(
        orphans + [p for draft in drafts.values() for p in draft.problems],
        key=lambda p: p.row or 0,
    )

    def count(action: Action) -> int:
        return sum(1 for r in results if r.action == action)

    report = ImportRead(
        format=sheet.format,
        hxl=sheet.hxl,
        dry_run=options.dry_run,
        strict=options.strict,
        mode=options.mode,
        figures=options.figures,
        written=any(r.outcome in ("created", "amended") for r in results),
        rows=total,
        rows_skipped=len(skipped),
        sitreps=len(results),
        accepted=len(results) - count("refuse"),
        refused=count("refuse"),
        created=count("create"),
        amended=count("amend"),
        unchanged=count("unchanged"),
        lines=sum(len(r.lines) for r in results),
        created_sitrep_ids=[r.sitrep_id for r in results if r.outcome == "created" and r.sitrep_id],
        amended_sitrep_ids=[r.sitrep_id for r in results if r.outcome == "amended" and r.sitrep_id],
        columns={name: column.label for name, column in layout.columns.items()},
        problems_total=len(problems),
        problems=problems[:REPORT_ROWS],
        skipped=skipped[:REPORT_ROWS],
        notes=notes,
        results=results,
    )
    if not options.dry_run:
        audit.record(
            session,
            action="import.run",
            entity_type="import",
            entity_id=None,
            user=user,
            after=_summary(report, upload),
        )
        session.flush()
    return report


def _submit(
    session: Session,
    *,
    drafts: list[_Draft],
    layout: Layout,
    user: User,
    options: ImportOptions,
    clean: bool,
    progress: Progress | None,
) -> bool:
    """Writes the drafts whose rows have no problem, each in a savepoint of its own, all
    of them in one more savepoint that a dry run, or a strict import with any problem
    (``clean`` says whether rows outside every draft had none), rolls back. A dry run thus
    does everything the real run does, and says so. Returns whether the writes were kept."""
    ready = [draft for draft in drafts if not draft.problems]
    read = bodies.read_each([draft.document() for draft in ready], session=session)
    # Every slot the sheet writes, locked at once (app.sitreps.order), before any of it;
    # in modes update and upsert the sitreps it may amend first, as an amendment does.
    sitreps.lock_slots_of(
        session, bodies.valid(read), with_their_sitreps=options.mode is not Mode.create
    )
    everything = session.begin_nested()
    try:
        pending = ready
        if options.mode is Mode.create:
            # Written as a set, as a batch is (app.sitreps.batches).
            _create_all(session, ready, read, user=user)
            if progress is not None and ready:
                progress("sitreps", len(ready), len(ready))
        else:
            for done, draft in enumerate(ready, 1):
                _write(session, draft, user=user, mode=options.mode)
                if progress is not None:
                    progress("sitreps", done, len(ready))
        # A conflict may come from the order of the sheet's rows alone: a corrected sheet
        # raises January's year-to-date figure above February's before February is amended
        # too, or moves a slot from one period's sitrep to another's. Such sitreps are
        # tried again once the others are written, for as long as that lets one more in.
        while True:
            conflicts = [d for d in pending if isinstance(d.error, Conflict)]
            if not conflicts or len(conflicts) == len(pending):
                break
            for draft in conflicts:
                draft.error = None
                _write(session, draft, user=user, mode=options.mode)
            pending = conflicts
        for draft in ready:
            if draft.error is not None:
                draft.problems += _rows_of_problem(draft.error, draft, layout)
        clean = clean and not any(draft.problems for draft in drafts)
        keep = not options.dry_run and (clean or not options.strict)
        if keep:
            everything.commit()
        else:
            everything.rollback()
    except BaseException:
        if everything.is_active:
            everything.rollback()
        raise
    return keep


def _create_all(
    session: Session,
    drafts: list[_Draft],
    read: list[SitrepCreate | ValidationFailed],
    *,
    user: User,
) -> None:
    """``_write`` of every draft in mode create (``read``: their documents, read), in order,
    written as one batch (app.sitreps.batches)."""
    written = batches.write_each(session, read=read, user=user)
    for draft, (sitrep, error) in zip(drafts, written, strict=True):
        draft.action = "create" if error is None else "refuse"
        draft.sitrep_id = None if sitrep is None else sitrep.id
        draft.error = error


def _write(session: Session, draft: _Draft, *, user: User, mode: Mode) -> None:
    """Creates the draft's sitrep, or amends the live sitrep it matches (mode update or
    upsert), or leaves that one alone when no figure differs; on a problem, notes it."""
    try:
        data = bodies.validated(draft.document())
        match = None
        if mode is not Mode.create:
            permissions.require_country(user, data.country)
            match = _match(session, data)
        if match is None:
            if mode is Mode.update:
                raise NoMatch(
                    f"No live sitrep of {data.country} for {data.period_start}.."
                    f"{data.period_end} ({_crisis(data.crisis_id)}) reports any of these "
                    "lines, so there is nothing to update; import with mode=upsert or "
                    "mode=create to create it."
                )
            draft.action = "create"
            with session.begin_nested():
                draft.sitrep_id = sitreps.submit(session, data=data, user=user).id
            return
        sitrep, lines, narrative = match
        draft.changes = _changes(lines, data)
        draft.sitrep_id = sitrep.id
        if not draft.changes:
            draft.action = "unchanged"
            return
        draft.action = "amend"
        with session.begin_nested():
            # The sheet's lines replace the sitrep's; its narrative is kept. The ETag is
            # the one just read: a change in between is a 412 for this sitrep alone.
            sitreps.amend(
                session,
                sitrep_id=sitrep.id,
                data=data.model_copy(update={"narrative": narrative}),
                if_match=reads.etag(sitrep),
                user=user,
            )
    except AppError as exc:
        draft.error = exc
        draft.action = "refuse"
        draft.sitrep_id = None


def _match(
    session: Session, data: SitrepCreate
) -> tuple[Sitrep, list[SitrepLine], str | None] | None:
    """The live sitrep the rows stand for: same country, crisis and period, and at least
    one slot in common. Two such sitreps are a conflict: which one is meant is unknown."""
    keys = {rules.line_key(line) for line in data.lines}
    found = [
        candidate
        for candidate in reads.live_for_period(
            session,
            country=data.country,
            crisis_id=data.crisis_id,
            period_start=data.period_start,
            period_end=data.period_end,
        )
        if keys & {line.line_key for line in candidate[1]}
    ]
    if len(found) > 1:
        ids = " and ".join(str(sitrep.id) for sitrep, _, _ in found)
        raise Conflict(
            f"These rows match sitreps {ids}, which all report some of their lines for "
            f"{data.period_start}..{data.period_end}; withdraw the duplicate, or import "
            "the lines of each in a sheet of its own.",
            conflicting_sitrep_id=found[1][0].id,
        )
    return found[0] if found else None


def _changes(lines: list[SitrepLine], data: SitrepCreate) -> list[ImportedChange]:
    """How the sheet's lines differ from the sitrep's live ones, figure by figure."""
    before = {line.line_key: line for line in lines}
    changes: list[ImportedChange] = []
    for line in data.lines:
        key = rules.line_key(line)
        after = rules.line_columns(line, key)
        old = before.pop(key, None)
        if old is None:
            changes.append(ImportedChange(line=_slot_text(key), change="added"))
            continue
        # people_reached_new that neither revision gives (it is people_reached) changes
        # with people_reached, which says so already; that of a cumulative line is what its
        # chain makes of it, not the sheet's.
        implied = line.people_reached_cumulative is not None or (
            line.people_reached_new is None and old.people_reached_new == old.people_reached
        )
        changes += [
            ImportedChange(
                line=_slot_text(key),
                change="changed",
                field=name,
                old=getattr(old, name),
                new=after[name],
            )
            for name in _COMPARED
            if getattr(old, name) != after[name] and not (implied and name == "people_reached_new")
        ]
    changes += [ImportedChange(line=_slot_text(key), change="removed") for key in before]
    return changes


def _slot_text(key: str) -> str:
    sector, division, phase, admin1, admin2 = key.split("|")
    return f"{sector}/{division}/{phase} at {admin2 or admin1 or 'country-wide'}"


def _crisis(crisis_id: int | None) -> str:
    return "no crisis" if crisis_id is None else f"crisis {crisis_id}"


def _result(draft: _Draft, *, written: bool) -> ImportedSitrep:
    country, crisis_id, start, end = draft.key
    error = draft.error
    if draft.problems and (error is None or isinstance(error, ValidationFailed)):
        # The sitrep's problems as its rows show them, rather than as the document made of
        # them would.
        error = ValidationFailed(
            [
                (("row", p.row or 0, *([p.column] if p.column else [])), p.reason)
                for p in draft.problems
            ]
        )
    action: Action = "refuse" if error is not None else draft.action
    outcome: Literal["created", "amended", "unchanged", "valid", "refused"]
    if action == "refuse":
        outcome = "refused"
    elif action == "unchanged":
        outcome = "unchanged"
    elif written:
        outcome = "created" if action == "create" else "amended"
    else:
        outcome = "valid"
    return ImportedSitrep(
        country=country,
        crisis_id=crisis_id,
        period_start=start,
        period_end=end,
        rows=draft.rows,
        lines=[
            ImportedLine(
                rows=entry.rows,
                sector=entry.line.sector,
                division=entry.line.division,
                phase=entry.line.phase,
                admin1=entry.line.admin1,
                admin2=entry.line.admin2,
                people_reached=entry.line.people_reached,
                people_reached_new=entry.line.people_reached_new,
                people_reached_cumulative=entry.line.people_reached_cumulative,
                people_targeted=entry.line.people_targeted,
            )
            for entry in draft.lines.values()
        ],
        action=action,
        outcome=outcome,
        status=error.status if error is not None else 201 if action == "create" else 200,
        # A sitrep created and then rolled back has no id; one amended or unchanged does.
        sitrep_id=draft.sitrep_id if action != "create" or written else None,
        changes=draft.changes if error is None else [],
        problem=None if error is None else _listed(problem_body(error)),
    )


def _listed(body: dict[str, Any]) -> Problem:
    """A sitrep's problem with the first REPORT_ROWS of its errors (its detail counts them
    all): a sitrep of many bad rows has one error a row, already in the report's problems."""
    if isinstance(body.get("errors"), list):
        body["errors"] = body["errors"][:REPORT_ROWS]
    return Problem.model_validate(body)


def _summary(report: ImportRead, upload: Upload) -> dict[str, Any]:
    return {
        "file": upload.name,
        "format": report.format,
        "hxl": report.hxl,
        "dry_run": report.dry_run,
        "strict": report.strict,
        "mode": report.mode.value,
        "figures": report.figures.value if report.figures else None,
        "written": report.written,
        "rows": report.rows,
        "rows_skipped": report.rows_skipped,
        "problems": report.problems_total,
        "sitreps": report.sitreps,
        "accepted": report.accepted,
        "refused": report.refused,
        "created": report.created,
        "amended": report.amended,
        "unchanged": report.unchanged,
        "lines": report.lines,
        "created_sitrep_ids": report.created_sitrep_ids,
        "amended_sitrep_ids": report.amended_sitrep_ids,
    }


# --- rows to lines ---------------------------------------------------------------------


def _add(draft: _Draft, number: int, read: _Row, layout: Layout, options: ImportOptions) -> None:
    how = options.combine
    draft.rows.append(number)
    draft.problems += read.problems
    if read.line is None:
        return
    slot = rules.line_key(read.line)
    kept = draft.lines.get(slot)
    if kept is None:
        draft.lines[slot] = _Line([number], read.line)
    elif how is Combine.refuse:
        where = read.line.admin2 or read.line.admin1 or "country-wide"
        draft.problems.append(
            ImportProblem(
                row=number,
                column=layout.label("sector"),
                reason=f"repeats row {kept.rows[0]}: the same sitrep, sector, division, "
                f"phase and location ({read.line.sector}/{read.line.division}/"
                f"{read.line.phase} at {where}); report each once, or combine such rows "
                "with combine=max or combine=sum",
                status=422,
            )
        )
    else:
        kept.rows.append(number)
        kept.line = _combined(kept.line, read.line, how)


def _combined(a: LineIn, b: LineIn, how: Combine) -> LineIn:
    """Two rows of one slot as one line. ``max``: each figure is the largest of the two,
    the sex and age split that of the row reaching more people. ``sum``: each figure is the
    sum; splits (sex and age, disabilities) are kept only when both rows give them."""

    def figure(x: int | None, y: int | None) -> int | None:
        given = [v for v in (x, y) if v is not None]
        if not given:
            return None
        return max(given) if how is Combine.max else sum(given)

    def new(line: LineIn) -> int:
        return line.people_reached if line.people_reached_new is None else line.people_reached_new

    # A cumulative figure's new reach is what its chain makes of it: none is given.
    cumulative = a.people_reached_cumulative is not None or b.people_reached_cumulative is not None
    both_new = cumulative or (a.people_reached_new is None and b.people_reached_new is None)
    split: Disaggregation | None
    if how is Combine.max:
        split = (a if a.people_reached >= b.people_reached else b).disaggregation
        disabled = figure(a.persons_with_disabilities, b.persons_with_disabilities)
    else:
        split = None
        if a.disaggregation is not None and b.disaggregation is not None:
            split = Disaggregation.model_construct(
                **{
                    part: getattr(a.disaggregation, part) + getattr(b.disaggregation, part)
                    for part in DISAGGREGATION
                }
            )
        disabled = None
        if a.persons_with_disabilities is not None and b.persons_with_disabilities is not None:
            disabled = a.persons_with_disabilities + b.persons_with_disabilities
    indicators: dict[str, Decimal] = {}
    for name in a.indicators.keys() | b.indicators.keys():
        values = [v for v in (a.indicators.get(name), b.indicators.get(name)) if v is not None]
        indicators[name] = max(values) if how is Combine.max else sum(values, Decimal(0))
    return a.model_copy(
        update={
            "people_reached": figure(a.people_reached, b.people_reached),
            "people_reached_new": None if both_new else figure(new(a), new(b)),
            "people_reached_cumulative": figure(
                a.people_reached_cumulative, b.people_reached_cumulative
            ),
            "people_targeted": figure(a.people_targeted, b.people_targeted),
            "disaggregation": split,
            "persons_with_disabilities": disabled,
            "indicators": dict(sorted(indicators.items())),
        }
    )


class _RowReader:
    """Reads one row's cells into values, noting a problem (row, column, reason) for each
    cell that cannot be read."""

    def __init__(self, row: SheetRow, layout: Layout) -> None:
        self.row = row
        self.layout = layout
        self.problems: list[ImportProblem] = []
        self.notes: list[tuple[str | None, str]] = []

    def fail(self, name: str, reason: str) -> None:
        column = self.layout.label(name) or name
        self.problems.append(
            ImportProblem(row=self.row.number, column=column, reason=reason, status=422)
        )

    def text(self, name: str) -> str:
        column = self.layout.columns.get(name)
        return self.row.cell(column) if column is not None else ""

    def note(self, name: str, note: str) -> None:
        self.notes.append((self.layout.label(name) or name, note))

    def value(self, name: str, parse: Callable[[str], T], *, required: bool = False) -> T | None:
        text = self.text(name)
        if not text:
            if required:
                self.fail(name, f"{name} is empty")
            return None
        return self.parsed(name, text, parse)

    def parsed(self, name: str, text: str, parse: Callable[[str], T]) -> T | None:
        try:
            return parse(text)
        except Unresolved as exc:
            self.fail(name, str(exc))
            return None


def _read_row(row: SheetRow, layout: Layout, options: ImportOptions) -> _Row:
    for only in layout.filters:
        cell, wanted = names.normalise(row.cell(only.column)), names.normalise(only.text)
        if (wanted not in cell) if only.contains else (cell != wanted):
            verb = "does not contain" if only.contains else "is not"
            return _Row(
                skipped=ImportProblem(
                    row=row.number,
                    column=only.column.label,
                    reason=f"{verb} {only.text!r} (only={only.column.label}"
                    f"{'~' if only.contains else '='}{only.text})",
                )
            )
    reader = _RowReader(row, layout)
    sector = None
    try:
        sector = names.sector(reader.text("sector")) if reader.text("sector") else None
    except OutsideSectors as exc:
        return _Row(
            skipped=ImportProblem(row=row.number, column=layout.label("sector"), reason=str(exc))
        )
    except Unresolved as exc:
        reader.fail("sector", str(exc))
    if not reader.text("sector"):
        reader.fail("sector", "sector is empty")
    country = reader.value("country", names.country, required=True)
    period = _period(reader, options)
    crisis_id = reader.value("crisis_id", _whole)
    crisis_problem = bool(reader.text("crisis_id")) and crisis_id is None
    if crisis_id is None:
        crisis_id = options.crisis_id
    division = reader.value("division", names.division) or options.division
    if division is None:
        reader.fail("division", "division is empty, and no default division was given")
    phase = reader.value("phase", names.phase) or options.phase
    if phase is None:
        reader.fail("phase", "phase is empty, and no default phase was given")
    admin1, admin2 = _location(reader, country)

    line: dict[str, Any] = {
        "sector": sector,
        "division": division,
        "phase": phase,
        "admin1": admin1,
        "admin2": admin2,
        **_figures(reader, options.figures),
        "people_targeted": reader.value("people_targeted", _whole),
        "persons_with_disabilities": reader.value("persons_with_disabilities", _whole),
    }
    split = {part: reader.value(part, _whole) for part in DISAGGREGATION}
    given = [part for part, value in split.items() if value is not None]
    if given and len(given) < len(DISAGGREGATION):
        missing = [part for part in DISAGGREGATION if split[part] is None]
        reader.fail(
            missing[0],
            f"women, men, girls and boys come together; {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} empty",
        )
    elif given:
        line["disaggregation"] = split
    line["indicators"] = {
        name: value
        for name in INDICATORS
        if name in layout.columns and (value := reader.value(name, _amount)) is not None
    }

    key = None
    if country is not None and period is not None and not crisis_problem:
        key = (country, crisis_id, *period)
    if reader.problems:
        return _Row(key=key, problems=reader.problems, notes=reader.notes)
    try:
        return _Row(key=key, line=LineIn.model_validate(line), notes=reader.notes)
    except PydanticValidationError as exc:
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]] or ["people_reached"]
            # A part of the split or an indicator has a column of its own.
            name = loc[1] if loc[0] in ("disaggregation", "indicators") and len(loc) > 1 else loc[0]
            reader.fail(name, f"{name}: {error['msg']}")
        return _Row(key=key, problems=reader.problems)


def _figures(reader: _RowReader, figures: Figures | None) -> dict[str, int | None]:
    """The line's people figures, as ``figures`` declares what the reach column counts.
    A cumulative reach column (without a column of its own for the period's reach) is
    people_reached too, until ``_period_reach`` makes that the period's increase."""
    reach = reader.value("people_reached", _whole, required=True)
    new = reader.value("people_reached_new", _whole)
    cumulative = reader.value("people_reached_cumulative", _whole)
    if figures is Figures.new and new is None:
        new = reach
    if figures is Figures.cumulative and "people_reached_cumulative" not in reader.layout.columns:
        cumulative = reach
    return {
        "people_reached": reach,
        "people_reached_new": new,
        "people_reached_cumulative": cumulative,
    }


def _period_reach(drafts: list[_Draft], layout: Layout, options: ImportOptions) -> list[ImportNote]:
    """With figures=cumulative and one people column, the sheet says how many people were
    reached by each period's end, not in each period: a line's people_reached is then the
    increase over the slot's previous period of the year in the sheet (in its first
    period, the whole figure), the people known to have been reached in it."""
    if options.figures is not Figures.cumulative or "people_reached_cumulative" in layout.columns:
        return []
    chains: dict[tuple[str, int | None, str, int], list[tuple[date, _Line]]] = {}
    for draft in drafts:
        country, crisis_id, _, end = draft.key
        for key, entry in draft.lines.items():
            chains.setdefault((country, crisis_id, key, end.year), []).append((end, entry))
    rows: list[int] = []
    for chain in chains.values():
        before = 0
        for _, entry in sorted(chain, key=lambda item: item[0]):
            cumulative = entry.line.people_reached_cumulative or 0
            entry.line = entry.line.model_copy(
                update={"people_reached": max(cumulative - before, 0)}
            )
            before = max(before, cumulative)
            rows += entry.rows
    if not rows:
        return []
    return [
        ImportNote(
            kind="figures",
            rows=sorted(rows),
            column=layout.label("people_reached"),
            note="figures=cumulative: each figure is read as the people reached since 1 "
            "January, and the sheet gives no figure of the people reached in each period; "
            "a period's people_reached is therefore its increase over the slot's previous "
            "period in the sheet (in the slot's first period of the year, the whole figure).",
        )
    ]


def _figures_notes(
    drafts: list[_Draft], layout: Layout, options: ImportOptions
) -> list[ImportNote]:
    """What the figures of slots reported for several periods mean. Without a column of
    new or cumulative people, only the sheet's owner knows: the import stops and asks,
    unless ``figures`` says. With figures=period, DOMAIN.md's warning for each such slot
    and year."""
    # Only periods of one year add up to a year's reach.
    periods: dict[tuple[str, int | None, str, int], dict[tuple[date, date], _Line]] = {}
    for draft in drafts:
        country, crisis_id, start, end = draft.key
        for key, entry in draft.lines.items():
            periods.setdefault((country, crisis_id, key, end.year), {})[(start, end)] = entry
    repeated = {slot: found for slot, found in periods.items() if len(found) > 1}
    if not repeated:
        return []
    declared = (
        "people_reached_new" in layout.columns or "people_reached_cumulative" in layout.columns
    )
    label = layout.label("people_reached")
    if options.figures is None and not declared:
        (country, _, key, _), found = next(iter(repeated.items()))
        others = len(repeated) - 1
        raise ValidationFailed(
            [
                (
                    ("query", "figures"),
                    f"The sheet reports {_slot_text(key)} ({country}) for {len(found)} periods "
                    f"of a year ({', '.join(_period_text(p) for p in sorted(found))})"
                    + (
                        f", and {others} more slot{'s' if others > 1 else ''} likewise"
                        if others
                        else ""
                    )
                    + ", with no column of new or of cumulative people."
                    f" What its {label} column counts decides "
                    "the year's reach, so say it with the figures option (--figures on the "
                    "command line): 'new' if each figure counts only people reached for the "
                    "first time this year (the periods add up); 'cumulative' if it counts "
                    "everyone reached since 1 January up to the period's end (the year's "
                    "reach is the latest figure); 'period' if it counts everyone reached in "
                    "the period, some of them reached in earlier periods too (the periods "
                    "then add up, and people helped in several periods count once in each). "
                    "Nothing was written.",
                )
            ]
        )
    if options.figures is not Figures.period:
        return []
    notes: list[ImportNote] = []
    for (country, _, key, year), found in repeated.items():
        entries = [
            (period, entry)
            for period, entry in sorted(found.items())
            if entry.line.people_reached_new is None
            and entry.line.people_reached_cumulative is None
        ]
        if len(entries) > 1:
            added = sum(entry.line.people_reached for _, entry in entries)
            listed = "; ".join(
                f"{_period_text(period)}: {entry.line.people_reached:,}"
                for period, entry in entries
            )
            notes.append(
                ImportNote(
                    kind="figures",
                    rows=sorted(row for _, entry in entries for row in entry.rows),
                    column=label,
                    note=f"{_slot_text(key)} ({country}) reports {len(entries)} periods of "
                    f"{year} with figures=period ({listed}): each period's people count as "
                    f"new, so {year}'s reach adds them up to {added:,}. Monthly figures are "
                    "not a year's reach: people reached in several periods are counted once "
                    "in each. Give a people_reached_new or cumulative column if the office "
                    "has one.",
                )
            )
    return notes


def _period_text(period: tuple[date, date]) -> str:
    start, end = period
    whole_month = (
        start.day == 1
        and (end + timedelta(days=1)).day == 1
        and (
            start.year,
            start.month,
        )
        == (end.year, end.month)
    )
    return f"{start:%B %Y}" if whole_month else f"{start}..{end}"


def _period(reader: _RowReader, options: ImportOptions) -> tuple[date, date] | None:
    if "period" in reader.layout.columns:
        return reader.value(
            "period", lambda text: names.month_period(text, year=options.year), required=True
        )
    start = reader.value("period_start", _date, required=True)
    end = reader.value("period_end", _date, required=True)
    return (start, end) if start is not None and end is not None else None


def _location(reader: _RowReader, country: str | None) -> tuple[str | None, str | None]:
    """The row's admin1 and admin2 p-codes. An admin2 given without its admin1 brings its
    admin1 along."""
    if country is None:
        return None, None
    admin1 = _area(reader, country=country, level=1, admin1=None)
    if (reader.text("admin1") or reader.text("admin1_name")) and admin1 is None:
        return None, None  # the admin2 could not be looked for in the right place
    admin2 = _area(reader, country=country, level=2, admin1=admin1)
    if admin2 is not None and admin1 is None:
        area = reference.admin_areas().get(admin2)
        admin1 = area.parent if area is not None and area.level == 2 else None
    return admin1, admin2


def _area(reader: _RowReader, *, country: str, level: int, admin1: str | None) -> str | None:
    """An admin area by p-code or name. A p-code that is not a current one is taken as the
    current one when the change was systematic (a prefix), or else by the name the row
    gives beside it, with a note saying so."""
    name = f"admin{level}"
    text, beside = reader.text(name), reader.text(f"{name}_name")
    if not text:
        text, beside = beside, ""
    if not text:
        return None

    def by_name(value: str) -> str:
        return names.admin_area(value, country=country, level=level, admin1=admin1)

    code = text.strip().upper()
    if names.looks_like_pcode(code) and code not in reference.admin_areas():
        current = names.current_pcode(code, country=country, level=level)
        if current is not None:
            area = reference.admin_areas()[current]
            reader.note(
                name,
                f"{code} is not a current p-code; {country}'s p-codes now begin "
                f"{current.rstrip('0123456789')}: {area.name} is {current}",
            )
            return current
        if beside:
            found = reader.parsed(f"{name}_name", beside, by_name)
            if found is not None:
                reader.note(name, f"{code} is not a current p-code; {beside} is {found}")
            return found
    return reader.parsed(name, text, by_name)


def _whole(text: str) -> int:
    digits = re.sub(r"[,' \u00a0\u202f]", "", text) if _THOUSANDS.match(text) else text
    if digits.endswith(".0"):
        digits = digits[:-2]
    if not _DIGITS.match(digits):
        raise Unresolved(f"{text!r} is not a whole number of 0 or more")
    return int(digits)


def _amount(text: str) -> Decimal:
    digits = (
        re.sub(r"[,' \u00a0\u202f]", "", text) if _THOUSANDS.match(text.split(".")[0]) else text
    )
    if not _AMOUNT.match(digits):
        raise Unresolved(f"{text!r} is not a number of 0 or more (e.g. 1250 or 1250.50)")
    return Decimal(digits)


def _date(text: str) -> date:
    match = _DATE.match(text)
    try:
        if match is None:
            raise ValueError(text)
        return date.fromisoformat(match[1])
    except ValueError:
        raise Unresolved(f"{text!r} is not a date (YYYY-MM-DD)") from None


# --- problems of refused sitreps, row by row -------------------------------------------


def _rows_of_problem(error: AppError, draft: _Draft, layout: Layout) -> list[ImportProblem]:
    """The problem of a refused sitrep as problems of its rows, each at its column."""
    if isinstance(error, ValidationFailed):
        return [
            ImportProblem(row=row, column=_label(layout, name), reason=item["msg"], status=422)
            for item in error.extensions["errors"]
            for rows, name in [_located(draft, list(item["loc"])[1:])]
            for row in rows
        ]
    rows, name = draft.rows, "country" if isinstance(error, Forbidden) else None
    slot = error.extensions.get("slot")
    if isinstance(error, Conflict) and isinstance(slot, dict):
        key = "|".join(
            str(slot.get(k) or "") for k in ("sector", "division", "phase", "admin1", "admin2")
        )
        rows, name = (draft.lines[key].rows if key in draft.lines else rows), "sector"
    return [
        ImportProblem(
            row=row, column=_label(layout, name), reason=error.detail, status=error.status
        )
        for row in rows
    ]


def _located(draft: _Draft, loc: list[str | int]) -> tuple[list[int], str | None]:
    """The rows and field a location in the sitrep document points at: ["lines", 0,
    "admin1"], ["lines", 2], ["country"], ..."""
    if len(loc) >= 2 and loc[0] == "lines" and isinstance(loc[1], int):
        entries = list(draft.lines.values())
        rows = entries[loc[1]].rows if loc[1] < len(entries) else draft.rows
        name = str(loc[-1]) if len(loc) > 2 else None
        return rows, "women" if name == "disaggregation" else name
    return draft.rows, str(loc[0]) if loc else None


def _label(layout: Layout, name: str | None) -> str | None:
    """The column a field was read from; the field's (or option's) own name otherwise."""
    if name is None:
        return None
    if name.startswith("period") and "period" in layout.columns:
        return layout.label("period")
    return layout.label(name) or name
