"""An HTTP image body read within the size limit counted in DECODED bytes.

httpx decodes ``Content-Encoding`` a whole network chunk at a time: a 64 KiB chunk of a gzip
bomb inflates to ~64 MiB before any size check sees it (2 MB of gzip held 2 GiB of zeros). So
the raw bytes are read (``aiter_raw``) and decoded here with :mod:`zlib`'s ``max_length``: no
stage of the decoding ever produces more than the limit plus one byte, the compressed bytes
are bounded by the same limit, and past it the fetch stops with ``too_large``.
"""

from __future__ import annotations

import zlib

import httpx

from shared.contract import ImageMissingReason

ACCEPT_ENCODING = "gzip, deflate"
"""What the fetch asks for: the encodings :class:`BoundedDecoder` decodes (no br, no zstd)."""


class BodyProblem(Exception):
    """The body cannot be used: ``reason`` is the offer's image reason."""

    def __init__(self, reason: ImageMissingReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: ImageMissingReason = reason
        self.detail = detail


class BoundedDecoder:
    """One ``Content-Encoding`` (gzip or deflate), never producing more than ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise BodyProblem("fetch_error", f"unsupported Content-Encoding {encoding!r}")
        self.encoding = encoding
        self.remaining = limit
        self.limit = limit
        wbits = zlib.MAX_WBITS | 16 if encoding != "deflate" else zlib.MAX_WBITS
        self._inflate = zlib.decompressobj(wbits)
        self._first = encoding == "deflate"  # deflate: zlib-wrapped, or raw as some servers send

    def feed(self, data: bytes) -> bytes:
        """The decoded bytes of ``data``; :class:`BodyProblem` past the limit or on bad data."""
        try:
            out = self._decompress(data)
        except zlib.error as exc:
            raise BodyProblem("corrupt", f"Content-Encoding {self.encoding} does not decode: {exc}") from exc
        self._count(out)
        return out

    def flush(self) -> bytes:
        out = self._inflate.flush()
        self._count(out)
        return out

    def _decompress(self, data: bytes) -> bytes:
        # max_length = what is left + 1: one byte past the limit proves it exceeded, and
        # nothing beyond that byte is ever inflated (the rest stays in unconsumed_tail).
        if self._first and data:
            self._first = False
            try:
                return self._inflate.decompress(data, self.remaining + 1)
            except zlib.error:
                self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._inflate.decompress(data, self.remaining + 1)

    def _count(self, out: bytes) -> None:
        if len(out) > self.remaining:
            raise BodyProblem(
                "too_large", f"more than {self.limit} bytes once decoded (Content-Encoding {self.encoding})"
            )
        self.remaining -= len(out)


def decoders_for(content_encoding: str | None, limit: int) -> list[BoundedDecoder]:
    """The decoders to apply in order: the header lists encodings as applied, so the last first."""
    names = [n.strip().lower() for n in (content_encoding or "").split(",")]
    return [BoundedDecoder(name, limit) for name in reversed(names) if name not in ("", "identity")]


async def read_body(response: httpx.Response, limit: int) -> bytes:
    """The decoded body, at most ``limit`` bytes before and after decoding; raises
    :class:`BodyProblem` as soon as either count passes it."""
    decoders = decoders_for(response.headers.get("content-encoding"), limit)
    body = bytearray()
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received > limit:
            raise BodyProblem("too_large", f"more than {limit} bytes")
        body += _through(decoders, chunk)
    for index, decoder in enumerate(decoders):
        body += _through(decoders[index + 1 :], decoder.flush())
    if len(body) > limit:  # identity: the raw count above already holds; decoded: each stage's
        raise BodyProblem("too_large", f"more than {limit} bytes")
    return bytes(body)


def _through(decoders: list[BoundedDecoder], data: bytes) -> bytes:
    for decoder in decoders:
        data = decoder.feed(data)
    return data
