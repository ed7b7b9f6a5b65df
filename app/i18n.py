"""The language of the messages a client reads: English, French or Spanish.

Each request's language is chosen once from its ``Accept-Language`` header (by
``LanguageMiddleware``) and kept in a context variable; ``_()`` reads it. Outside a request
(the command line) it is English. Messages are gettext catalogs: the English text is the
message id, marked ``_("...")`` where it is used (or ``N_("...")`` where it is only listed),
its variable parts named placeholders filled after translation; the French and Spanish
``.po`` files under ``locales/`` are read with Babel on first use, so no compiled ``.mo``
file is needed (``pybabel extract -F pyproject.toml`` writes ``locales/messages.pot``).
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from http import HTTPStatus
from importlib import resources
from typing import Any

from babel.lists import format_list
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT = "en"
LANGUAGES = ("en", "fr", "es")


@dataclass(slots=True)
class _Language:
    code: str
    # Whether text in this language was produced for the answer: then it says so.
    used: bool = False


_current: ContextVar[_Language | None] = ContextVar("language", default=None)


def language() -> str:
    """The language of the request being handled (English outside a request)."""
    current = _current.get()
    return current.code if current else DEFAULT


_TAG = re.compile(r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


def negotiate(accept_language: str | None) -> str:
    """The best of LANGUAGES for an Accept-Language header (RFC 9110 §12.5.4): by
    q-value, then by order; a regional tag counts as its language (``fr-CA`` is French);
    English when nothing offered matches."""
    if not accept_language:
        return DEFAULT
    offers: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        match = _TAG.match(part)
        if match is None:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) is not None else 1.0
        except ValueError:
            continue
        if quality <= 0 or quality > 1:
            continue
        code = match.group(1).split("-")[0].lower()
        offers.append((-quality, position, DEFAULT if code == "*" else code))
    for _quality, _position, code in sorted(offers):
        if code in LANGUAGES:
            return code
    return DEFAULT


@lru_cache
def _translations(code: str) -> Mapping[str, str]:
    """The translated messages of one language, read from its .po file once per process.
    Untranslated and fuzzy entries are left out, so their English is used."""
    path = resources.files("app") / "locales" / code / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale=code)
    return {
        message.id: message.string
        for message in catalog
        if isinstance(message.id, str)
        and message.id
        and isinstance(message.string, str)
        and message.string
        and not message.fuzzy
    }


def _mark_used() -> None:
    current = _current.get()
    if current is not None:
        current.used = True


def text_language() -> str:
    """The request's language, for text of the answer written in it outside the catalogs
    (country names, say): the answer then carries Content-Language like a translated one."""
    _mark_used()
    return language()


def gettext(message: str) -> str:
    """``message`` in the request's language, not yet formatted."""
    _mark_used()
    code = language()
    if code == DEFAULT:
        return message
    return _translations(code).get(message, message)


def _(message: str, /, **params: Any) -> str:
    """``message`` in the request's language, with its ``{placeholders}`` filled in."""
    translated = gettext(message)
    if not params:
        return translated
    try:
        return translated.format(**params)
    except (KeyError, IndexError, ValueError):
        # A translation that names a placeholder the message does not have: say it in
        # English rather than fail (tests/http/test_i18n.py keeps the catalogs from doing so).
        return message.format(**params)


def N_(message: str) -> str:
    """Marks a message for the catalogs where it is listed; ``_()`` it where it is used."""
    return message


def either(items: Iterable[str]) -> str:
    """``a, b or c`` in the request's language."""
    items = list(items)
    code = language()
    if code == DEFAULT:
        return " or ".join(items)
    return format_list(items, style="or", locale=code)


def number(value: int) -> str:
    """A large whole number as the request's language writes it (1,000 / 1 000 / 1.000)."""
    code = language()
    return f"{value:,}" if code == DEFAULT else format_decimal(value, locale=code)


# The titles of problems (RFC 9457 ``title``): in English the status's reason phrase.
_TITLES: dict[int, str] = {
    400: N_("Bad Request"),
    401: N_("Unauthorized"),
    403: N_("Forbidden"),
    404: N_("Not Found"),
    405: N_("Method Not Allowed"),
    409: N_("Conflict"),
    412: N_("Precondition Failed"),
    413: N_("Content Too Large"),
    415: N_("Unsupported Media Type"),
    422: N_("Unprocessable Entity"),
    428: N_("Precondition Required"),
    429: N_("Too Many Requests"),
    500: N_("Internal Server Error"),
    503: N_("Service Unavailable"),
}


def title(status: int) -> str:
    phrase = HTTPStatus(status).phrase
    translated = gettext(_TITLES.get(status, phrase))
    return phrase if language() == DEFAULT else translated


# Pydantic's messages, by error type, for French and Spanish (English keeps pydantic's own
# wording). Placeholders are the error's ``ctx`` members.
_PYDANTIC: dict[str, str] = {
    "missing": N_("Field required"),
    "extra_forbidden": N_("Extra inputs are not permitted"),
    "int_type": N_("Input should be a valid integer"),
    "int_parsing": N_("Input should be a valid integer"),
    "int_parsing_size": N_("Input should be a valid integer"),
    "int_from_float": N_("Input should be a valid integer, got a number with a fractional part"),
    "float_type": N_("Input should be a valid number"),
    "float_parsing": N_("Input should be a valid number"),
    "bool_type": N_("Input should be a valid boolean"),
    "bool_parsing": N_("Input should be a valid boolean"),
    "finite_number": N_("Input should be a finite number"),
    "greater_than": N_("Input should be greater than {gt}"),
    "greater_than_equal": N_("Input should be greater than or equal to {ge}"),
    "less_than": N_("Input should be less than {lt}"),
    "less_than_equal": N_("Input should be less than or equal to {le}"),
    "string_type": N_("Input should be a valid string"),
    "string_unicode": N_("Input should be a valid string"),
    "string_too_short": N_("String should have at least {min_length} characters"),
    "string_too_long": N_("String should have at most {max_length} characters"),
    "string_pattern_mismatch": N_("String should match pattern '{pattern}'"),
    "too_short": N_("List should have at least {min_length} items, not {actual_length}"),
    "too_long": N_("List should have at most {max_length} items, not {actual_length}"),
    "list_type": N_("Input should be a valid list"),
    "dict_type": N_("Input should be a valid dictionary"),
    "model_type": N_("Input should be an object"),
    "model_attributes_type": N_("Input should be an object"),
    "literal_error": N_("Input should be {expected}"),
    "enum": N_("Input should be {expected}"),
    "date_type": N_("Input should be a valid date"),
    "date_parsing": N_("Input should be a valid date in the format YYYY-MM-DD"),
    "date_from_datetime_parsing": N_("Input should be a valid date in the format YYYY-MM-DD"),
    "date_from_datetime_inexact": N_("Input should be a date without a time of day"),
    "datetime_type": N_("Input should be a valid datetime"),
    "datetime_parsing": N_("Input should be a valid datetime in ISO 8601 format"),
    "datetime_from_date_parsing": N_("Input should be a valid datetime in ISO 8601 format"),
    "decimal_type": N_("Input should be a valid decimal"),
    "decimal_parsing": N_("Input should be a valid decimal"),
    "decimal_max_places": N_(
        "Decimal input should have no more than {decimal_places} decimal places"
    ),
    "decimal_max_digits": N_("Decimal input should have no more than {max_digits} digits in total"),
    "decimal_whole_digits": N_(
        "Decimal input should have no more than {whole_digits} digits before the decimal point"
    ),
    "json_type": N_("Input should be JSON"),
}

_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _ctx_value(key: str, value: Any) -> str:
    if key == "expected" and isinstance(value, str):
        # "'a', 'b' or 'c'": pydantic joins the choices in English; join them again.
        choices = [f"'{choice}'" for choice in _QUOTED.findall(value)]
        return either(choices) if choices else value
    if isinstance(value, int) and not isinstance(value, bool):
        return number(value)
    return str(value)


def pydantic_message(error: Mapping[str, Any]) -> str:
    """A pydantic error's message in the request's language: English as pydantic words it;
    in French or Spanish by its type, with its context; a validator's own message (a
    ``value_error``) through the catalogs like any other."""
    msg = str(error.get("msg", "is not valid"))
    error_type = error.get("type")
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if error_type == "value_error" and "error" in ctx:
        return _(str(ctx["error"]))
    template = _PYDANTIC.get(str(error_type))
    if template is None or language() == DEFAULT:
        _mark_used()
        return msg
    params = {key: _ctx_value(key, value) for key, value in ctx.items()}
    return _(template, **params)


def pydantic_messages() -> Sequence[str]:
    """Every message id of pydantic's errors that the service translates."""
    return list(_PYDANTIC.values())


class LanguageMiddleware:
    """Chooses the request's language from Accept-Language; an answer that carries text in
    it says so with ``Content-Language``, and ``Vary: Accept-Language`` for caches."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        current = _Language(negotiate(Headers(scope=scope).get("accept-language")))
        token = _current.set(current)

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start" and current.used:
                headers = MutableHeaders(scope=message)
                headers["Content-Language"] = current.code
                headers.add_vary_header("Accept-Language")
            await send(message)

        try:
            await self.app(scope, receive, send_with_language)
        finally:
            _current.reset(token)
