"""A request body read as a sitrep: every problem of the schema and of the rules in one
422, and a PUT body that may carry the read-only fields of a GET of the sitrep it replaces.
"""

from collections.abc import Iterable
from typing import Annotated, Any, cast

from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.orm import Session

from app.auth.models import User
from app.crises import service as crises
from app.errors import ValidationFailed, validation_problems
from app.i18n import _
from app.sitreps import reads, rules
from app.sitreps.rules import Loc, line_key
from app.sitreps.schemas import LineIn, LineRead, SitrepCreate, SitrepRead


def validated(item: Any, *, session: Session | None = None) -> SitrepCreate:
    """A sitrep document (as POST /api/v1/sitreps takes it) read, or a ValidationFailed
    with every problem located in the body. With a ``session``, a document the schema
    refuses is checked against the rules too, as far as it can be read (the fields and
    lines that passed), so that one 422 lists the problems of both."""
    try:
        return SitrepCreate.model_validate(item)
    except PydanticValidationError as exc:
        errors = exc.errors()
    problems = validation_problems([{**e, "loc": ("body", *e["loc"])} for e in errors])
    if session is not None and isinstance(item, dict):
        problems += _rule_problems(session, rules.readable(item, errors))
    raise ValidationFailed(problems)


def read_each(items: Iterable[Any], *, session: Session) -> list[SitrepCreate | ValidationFailed]:
    """Each sitrep document of a batch or an import ``validated``, or its problem: read
    once, for the locks of its slots and for its write as a set (``batches.write_each``).
    (An import that may amend reads each again as it writes it, one at a time.)"""
    read: list[SitrepCreate | ValidationFailed] = []
    for item in items:
        try:
            read.append(validated(item, session=session))
        except ValidationFailed as exc:
            read.append(exc)
    return read


def valid(read: Iterable[SitrepCreate | ValidationFailed]) -> list[SitrepCreate]:
    return [data for data in read if isinstance(data, SitrepCreate)]


READ_ONLY_FIELDS = tuple(
    name for name in SitrepRead.model_fields if name not in SitrepCreate.model_fields
)
_READ_ONLY_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    name: TypeAdapter(
        cast(
            Any, Annotated[SitrepRead.model_fields[name].annotation, SitrepRead.model_fields[name]]
        )
    )
    for name in READ_ONLY_FIELDS
}


def replacement(
    session: Session, *, sitrep_id: int, document: dict[str, Any], if_match: str | None, user: User
) -> SitrepCreate:
    """A PUT body as the sitrep it replaces the current one with. It may be a GET of the
    sitrep, edited: its read-only fields (``id``, ``revision``, ``status``, ...,
    ``submitted_at``, each line's ``id``) are left out when they equal the sitrep's current
    values, and make one problem naming them otherwise. Against an If-Match that names an
    older revision they are not compared: the amendment answers that with its 412."""
    sitrep, current = reads.get(session, sitrep_id=sitrep_id, user=user)
    offered = {tag.strip() for tag in (if_match or "").split(",")}
    compare = "*" in offered or reads.etag(sitrep) in offered
    document, differing = _without_read_only(document, current)
    problems: list[tuple[Loc, str]] = []
    if compare and differing:
        # One problem: at the field when there is one, at the body when there are several.
        where: Loc = ("body", *differing[0]) if len(differing) == 1 else ("body",)
        problems.append(
            (
                where,
                _(
                    "{fields}: read-only, and not as sitrep {sitrep_id} has them now; leave "
                    "them out, or send them as its GET answers them",
                    fields=", ".join(".".join(str(part) for part in loc) for loc in differing),
                    sitrep_id=sitrep_id,
                ),
            )
        )
    try:
        data = validated(document, session=session)
    except ValidationFailed as exc:
        raise ValidationFailed([*problems, *_located(exc)]) from None
    if problems:
        raise ValidationFailed([*problems, *_rule_problems(session, rules.Checkable.of(data))])
    return data


def _located(exc: ValidationFailed) -> list[tuple[Loc, str]]:
    return [(tuple(error["loc"]), error["msg"]) for error in exc.extensions["errors"]]


def _without_read_only(
    document: dict[str, Any], current: SitrepRead
) -> tuple[dict[str, Any], list[Loc]]:
    """The document without the read-only fields of a GET, and where those whose value is
    not the current one are."""
    differing: list[Loc] = []
    kept = {k: v for k, v in document.items() if k not in READ_ONLY_FIELDS}
    for name in READ_ONLY_FIELDS:
        if name in document and not _same(
            _READ_ONLY_ADAPTERS[name], document[name], getattr(current, name)
        ):
            differing.append((name,))
    raw_lines = document.get("lines")
    if isinstance(raw_lines, list):
        by_id = {line.id: line for line in current.lines}
        kept["lines"] = []
        for i, raw in enumerate(raw_lines):
            if isinstance(raw, dict) and "id" in raw:
                raw, same = _line_without_id(raw, by_id)
                if not same:
                    differing.append(("lines", i, "id"))
            kept["lines"].append(raw)
    return kept, differing


def _line_without_id(
    raw: dict[str, Any], current: dict[int, LineRead]
) -> tuple[dict[str, Any], bool]:
    """A line of a PUT body that names a line id, without it; and whether it names a
    current line of the same slot (the id a line keeps). The people_reached_new a GET
    shows beside people_reached_cumulative is derived: it goes too when it is the current one."""
    line = {k: v for k, v in raw.items() if k != "id"}
    known = (
        current.get(raw["id"])
        if isinstance(raw["id"], int) and not isinstance(raw["id"], bool)
        else None
    )
    if known is None:
        return line, False
    if (
        known.people_reached_cumulative is not None
        and line.get("people_reached_cumulative") is not None
        and line.get("people_reached_new") == known.people_reached_new
    ):
        del line["people_reached_new"]
    try:
        key = line_key(LineIn.model_validate(line))
    except PydanticValidationError:
        return line, True  # its own problems are reported; the id is not the issue
    slot = (known.sector, known.division, known.phase, known.admin1 or "", known.admin2 or "")
    return line, key == "|".join(slot)


def _same(adapter: TypeAdapter[Any], given: Any, current: Any) -> bool:
    try:
        return bool(adapter.validate_python(given) == current)
    except PydanticValidationError:
        return False


def _rule_problems(session: Session, data: rules.Checkable) -> list[tuple[Loc, str]]:
    """The problems the rules find in what can be checked of a document, each at its field."""
    crisis = None if data.crisis_id is None else crises.find(session, crisis_id=data.crisis_id)
    return rules.problems(data, crisis=crisis)
