"""deep-translator clients for each provider, pointed at ``translator_url`` when it is set.

deep-translator calls ``requests.get/post`` without a timeout; each client module's ``requests``
name is replaced by a thin wrapper that adds one (connect and read), so a hung provider frees
its thread instead of leaking it. Everything else is the unchanged client.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

import requests
from deep_translator import GoogleTranslator, LibreTranslator, MyMemoryTranslator
from deep_translator import exceptions as dt_errors
from deep_translator.constants import (
    GOOGLE_LANGUAGES_TO_CODES,
    LIBRE_LANGUAGES_TO_CODES,
    MY_MEMORY_LANGUAGES_TO_CODES,
)

TARGET = "fr"

REQUEST_TIMEOUT: contextvars.ContextVar[float] = contextvars.ContextVar(
    "translation_request_timeout", default=30.0
)
"""Timeout of one HTTP call, set per call by the translator (threads get a copied context)."""

NON_RETRYABLE: tuple[type[BaseException], ...] = (
    dt_errors.NotValidPayload,
    dt_errors.NotValidLength,
    dt_errors.LanguageNotSupportedException,
    dt_errors.InvalidSourceOrTargetLanguage,
    dt_errors.ApiKeyException,
    dt_errors.AuthorizationException,
)
"""Errors that another attempt cannot fix (bad input or configuration)."""


class _RequestsWithTimeout:
    """``requests`` as the client modules see it, with a default timeout."""

    def __getattr__(self, name: str) -> Any:
        return getattr(requests, name)

    @staticmethod
    def get(url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", REQUEST_TIMEOUT.get())
        return requests.get(url, **kwargs)

    @staticmethod
    def post(url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", REQUEST_TIMEOUT.get())
        return requests.post(url, **kwargs)


def _install_timeouts() -> None:
    import deep_translator.google
    import deep_translator.libre
    import deep_translator.mymemory

    for module in (deep_translator.google, deep_translator.libre, deep_translator.mymemory):
        module.requests = _RequestsWithTimeout()  # type: ignore[attr-defined]


_install_timeouts()


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


def build_client(provider: str, language: str, base_url: str | None, api_key: str | None) -> Any:
    """A fresh client (they keep per-call state, so one per call is the thread-safe choice)."""
    source = source_code(provider, language)
    target = PROVIDERS[provider].target
    client: Any
    if provider == "google":
        client = GoogleTranslator(source=source, target=target)
    elif provider == "mymemory":
        client = MyMemoryTranslator(source=source, target=target)
    elif provider == "libre":
        url = base_url.rstrip("/") + "/" if base_url else None
        # Self-hosted LibreTranslate without keys ignores the key; the client insists on one.
        return LibreTranslator(source=source, target=target, api_key=api_key or "-", custom_url=url)
    else:
        raise ValueError(f"unknown translation provider {provider!r}")
    if base_url:
        client._base_url = base_url  # the client has no constructor argument for it
    return client
