"""Translation clients: deep-translator for the public providers, a small httpx client for a
self-hosted one (``CATALOG_TRANSLATOR_URL``).

Why two clients: deep-translator 1.11.4's public API cannot be pointed at another server for
Google or MyMemory (their constructors take no URL), and none of its clients takes a timeout
(they call ``requests.get/post`` without one). Reaching a self-hosted provider therefore used to
mean setting private attributes and replacing the library's module-level ``requests``. Instead,
a configured URL is served by :class:`HTTPTranslator`, which speaks the same three HTTP
protocols with httpx and a timeout on every socket operation. ``LibreTranslator`` does accept
``custom_url``, but it would still run without a timeout, and a self-hosted LibreTranslate is
exactly the provider whose hangs we must survive, so it goes through :class:`HTTPTranslator` too.

Without a URL, the public endpoints are called through deep-translator's public classes only;
their calls are bounded by the caller (``asyncio.wait_for`` in ``translate.py``), and a hung
call keeps its pool thread until the operating system drops the connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Protocol

import httpx
from deep_translator import GoogleTranslator, LibreTranslator, MyMemoryTranslator
from deep_translator import exceptions as dt_errors
from deep_translator.constants import (
    GOOGLE_LANGUAGES_TO_CODES,
    LIBRE_LANGUAGES_TO_CODES,
    MY_MEMORY_LANGUAGES_TO_CODES,
)

TARGET = "fr"

DEFAULT_TIMEOUT_S = 30.0
"""Timeout of one HTTP operation when the caller names none (one-off clients, the CLI)."""


class ProviderError(Exception):
    """A self-hosted provider answered something other than a translation (worth retrying)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}" if detail else f"HTTP {status}")
        self.status = status


class ProviderRejected(ProviderError):
    """The provider refused the request itself (4xx other than 408/429): retrying cannot help."""


NON_RETRYABLE: tuple[type[BaseException], ...] = (
    dt_errors.NotValidPayload,
    dt_errors.NotValidLength,
    dt_errors.LanguageNotSupportedException,
    dt_errors.InvalidSourceOrTargetLanguage,
    dt_errors.ApiKeyException,
    dt_errors.AuthorizationException,
    ProviderRejected,
)
"""Errors that another attempt cannot fix (bad input or configuration)."""

RETRYABLE_STATUS = frozenset({408, 429})
"""4xx answers that mean "later" (request timeout, rate limited) rather than "never"."""


class Translator(Protocol):
    """What the translation loop needs of a client: one blocking call per text."""

    def translate(self, text: str) -> Any: ...


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    max_chars: int
    """Longest text one call accepts (deep-translator rejects len >= its limit)."""
    languages: frozenset[str]
    target: str


def _mymemory_codes() -> dict[str, str]:
    """ISO 639-1 -> MyMemory's locale code (de -> de-DE), preferring the language's own country."""
    out: dict[str, str] = {}
    for code in MY_MEMORY_LANGUAGES_TO_CODES.values():
        base = code.split("-")[0].lower()
        if base not in out or code.lower() == f"{base}-{base}":
            out[base] = code
    return out


_MYMEMORY = _mymemory_codes()

PROVIDERS: dict[str, ProviderSpec] = {
    "google": ProviderSpec("google", 4999, frozenset(GOOGLE_LANGUAGES_TO_CODES.values()), "fr"),
    "libre": ProviderSpec("libre", 4999, frozenset(LIBRE_LANGUAGES_TO_CODES.values()), "fr"),
    "mymemory": ProviderSpec("mymemory", 499, frozenset(_MYMEMORY), _MYMEMORY.get("fr", "fr-FR")),
}


def source_code(provider: str, language: str) -> str:
    """The provider's code for a lid.176 language, or ``auto`` when it has none."""
    if provider == "mymemory":
        return _MYMEMORY.get(language, "auto")
    if provider == "google" and language == "he":
        return "iw"
    return language if language in PROVIDERS[provider].languages else "auto"


class _GooglePageParser(HTMLParser):
    """Text of the result ``<div>`` of Google's mobile page (``t0``, else ``result-container``),
    the same elements deep-translator reads."""

    CLASSES = ("t0", "result-container")

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, list[str]] = {}
        self._open: str | None = None
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "div":
            return
        if self._open is not None:
            self._depth += 1
            return
        classes = next((v or "" for k, v in attrs if k == "class"), "").split()
        name = next((c for c in self.CLASSES if c in classes and c not in self.found), None)
        if name is not None:
            self._open, self._depth = name, 1
            self.found[name] = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._open is not None:
            self._depth -= 1
            if self._depth == 0:
                self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.found[self._open].append(data)

    def result(self) -> str | None:
        for name in self.CLASSES:
            if name in self.found:
                return "".join(self.found[name]).strip()
        return None


class HTTPTranslator:
    """A self-hosted provider at ``base_url``, speaking Google's mobile page, LibreTranslate's
    ``POST /translate`` or MyMemory's ``GET ?langpair=`` protocol.

    Requests mirror deep-translator's (same parameters, same result elements), so a server that
    works with the public client works here. Errors: transport failures become the built-in
    ``ConnectionError`` / ``TimeoutError`` (the reason logged says what happened, whatever the
    HTTP library); an HTTP error answer becomes :class:`ProviderError`, or
    :class:`ProviderRejected` when retrying cannot help.

    ``http`` is a shared, thread-safe ``httpx.Client`` (its timeout applies to connect, read and
    write separately); without one, each call opens and closes its own.
    """

    def __init__(
        self,
        protocol: str,
        base_url: str,
        source: str,
        target: str,
        api_key: str | None = None,
        http: httpx.Client | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if protocol not in PROVIDERS:
            raise ValueError(f"unknown translation provider {protocol!r}")
        self.protocol = protocol
        self.base_url = base_url
        self.source, self.target = source, target
        self.api_key = api_key
        self.http = http
        self.timeout_s = timeout_s

    def translate(self, text: str) -> str:
        if not text.strip():
            return text
        if self.http is not None:
            return self._translate(self.http, text)
        with httpx.Client(timeout=self.timeout_s) as http:
            return self._translate(http, text)

    def _translate(self, http: httpx.Client, text: str) -> str:
        if self.protocol == "libre":
            form = {"q": text, "source": self.source, "target": self.target, "format": "text"}
            if self.api_key:
                form["api_key"] = self.api_key
            response = self._send(http, "POST", self.base_url.rstrip("/") + "/translate", data=form)
            return str(response.json()["translatedText"])
        if self.protocol == "mymemory":
            params = {"langpair": f"{self.source}|{self.target}", "q": text}
            data = self._send(http, "GET", self.base_url, params=params).json()
            translation = (data.get("responseData") or {}).get("translatedText")
            if translation:
                return str(translation)
            matches = data.get("matches") or []
            if not matches:
                raise ProviderError(200, "no translation in the answer")
            return str(matches[0]["translation"])
        params = {"tl": self.target, "sl": self.source, "q": text}
        parser = _GooglePageParser()
        parser.feed(self._send(http, "GET", self.base_url, params=params).text)
        translation = parser.result()
        if translation is None:
            raise ProviderError(200, "no translation element in the page")
        return translation

    def _send(self, http: httpx.Client, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            response = http.request(method, url, **kwargs)
        except httpx.TimeoutException as exc:
            raise TimeoutError(f"{self.protocol} at {url} timed out: {exc}") from exc
        except httpx.TransportError as exc:
            raise ConnectionError(f"cannot reach {self.protocol} at {url}: {exc}") from exc
        if response.status_code >= 400:
            detail = response.text[:200].strip()
            if response.status_code < 500 and response.status_code not in RETRYABLE_STATUS:
                raise ProviderRejected(response.status_code, detail)
            raise ProviderError(response.status_code, detail)
        return response


def build_client(
    provider: str,
    language: str,
    base_url: str | None,
    api_key: str | None,
    http: httpx.Client | None = None,
) -> Translator:
    """A fresh client for one call (deep-translator's keep per-call state, so one per call is the
    thread-safe choice); :class:`HTTPTranslator` when ``base_url`` names a self-hosted provider."""
    if provider not in PROVIDERS:
        raise ValueError(f"unknown translation provider {provider!r}")
    source = source_code(provider, language)
    target = PROVIDERS[provider].target
    if base_url:
        return HTTPTranslator(provider, base_url, source, target, api_key, http=http)
    if provider == "google":
        return GoogleTranslator(source=source, target=target)
    if provider == "mymemory":
        return MyMemoryTranslator(source=source, target=target)
    # The public free instance ignores the key, but the client refuses to start without one.
    return LibreTranslator(source=source, target=target, api_key=api_key or "-")
