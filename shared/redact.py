"""Secrets out of URLs before they are printed or logged (``catalog config``, logs, ``/health``).

A password hides in more places than ``scheme://user:PASSWORD@host``: SQLAlchemy reads
``postgresql://u:s3cret/x@h/db`` as password ``s3cret/x`` (and ``p#w`` with a ``#``), where
``urllib`` sees no password at all; redis-py and libpq take ``?password=`` from the query
string. So a URL is read the way each library that may consume it reads it — ``urllib`` (what
redis-py and httpx use) and SQLAlchemy's :func:`~sqlalchemy.engine.make_url` — and whatever
either calls a password, in the user part or the query, is replaced by ``***``. A URL a
consuming library refuses to parse is replaced whole: what it would have called its password
cannot be known.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

MASK = "***"
SECRET_PARAMS = re.compile(r"pass|pwd|secret|token|signature|^sig$|^key$|api_?key", re.IGNORECASE)
"""Query parameters whose value is a secret (``password``, ``passwd``, ``access_token``...)."""

_REDIS_SCHEMES = {"redis", "rediss", "unix"}
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")


def redact_url(url: str) -> str:
    """``url`` with every password any consuming library would read replaced by ``***``
    (``redis://:pw@h`` -> ``redis://:***@h``); a URL that does not parse becomes ``***``."""
    try:
        _validate(url)
        return _redact_sqlalchemy(_redact_urllib(url))
    except Exception:  # any parser's refusal: nothing of it may be shown
        return MASK


def redact_text(text: str) -> str:
    """``text`` (a log line, an error message) with every URL in it passed through
    :func:`redact_url`."""
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    """One URL of a text, the punctuation that ends its sentence kept out of it."""
    url = match.group(0)
    core = url.rstrip(".,;:!?)]}")
    return redact_url(core) + url[len(core) :]


def _validate(url: str) -> None:
    """Raise where the library that would consume ``url`` refuses it: redis-py for
    ``redis://``, SQLAlchemy for what it can read, ``urllib`` for the rest."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if urlsplit(url).scheme.lower() in _REDIS_SCHEMES:
        from redis.connection import parse_url

        parse_url(url)
        return
    try:
        make_url(url)  # raises on a port it cannot read
    except ArgumentError:
        _ = urlsplit(url).port


def _redact_query(query: str) -> str:
    """``query`` with the values of :data:`SECRET_PARAMS` masked, the rest byte for byte."""
    pieces = []
    for piece in query.split("&"):
        name, eq, _value = piece.partition("=")
        pieces.append(f"{name}={MASK}" if eq and SECRET_PARAMS.search(unquote(name)) else piece)
    return "&".join(pieces)


def _redact_urllib(url: str) -> str:
    """The password as ``urllib`` (so redis-py, httpx) reads it: userinfo up to the last ``@``
    of the authority, and the query string. The rest is kept byte for byte."""
    parts = urlsplit(url)
    start = url.find("//") + 2 if parts.netloc else 0
    userinfo, at, host = parts.netloc.rpartition("@")
    netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}" if at and ":" in userinfo else parts.netloc
    head, tail = url[:start] + netloc, url[start + len(parts.netloc) :]
    path, question, rest = tail.partition("?")
    if question:
        query, hash_, fragment = rest.partition("#")
        tail = f"{path}?{_redact_query(query)}{hash_}{fragment}"
    return head + tail


def _redact_sqlalchemy(url: str) -> str:
    """The password as SQLAlchemy reads it: the user part up to the first ``@``, ``/`` and
    ``#`` included, and the query string. URLs it cannot read at all (no ``scheme://``) are
    left to urllib's reading; a port it cannot read raises."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    secret_query = {
        name: MASK for name, value in parsed.query.items() if SECRET_PARAMS.search(name) and value != MASK
    }
    if parsed.password in (None, MASK) and not secret_query:
        return url
    if parsed.password is not None:
        parsed = parsed.set(password=MASK)
    rendered = parsed.update_query_dict(secret_query).render_as_string(hide_password=True)
    return rendered.replace("%2A%2A%2A", MASK)  # the query's quoted mask, readable
