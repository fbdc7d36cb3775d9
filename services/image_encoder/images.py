"""Fetch and decode offer images under the deployment's limits.

An image URI is either a file under ``settings.image_roots`` (``file://`` or a plain path; paths
escaping the roots, symlinks included, are forbidden) or an http(s) URL on
``settings.image_allowed_hosts``. Size (bytes, counted after ``Content-Encoding`` is decoded:
:mod:`.http_body`), pixel count, the pixels a whole batch may hold and fetch time are bounded.
Every failure of one image, whatever raised it (a URI that does not parse included), becomes
that offer's :class:`ImageProblem` (an ``ImageMissingReason``): the offer is then classified
from its text alone, and the rest of the batch is not affected.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import partial
from pathlib import Path
from typing import Protocol, get_args
from urllib.parse import unquote, urlsplit

import httpx
from PIL import Image

from shared.broker.lanes import LanePool
from shared.config import Settings
from shared.contract import ImageMissingReason, Lane
from shared.ml.preprocess import decode_image

from .http_body import ACCEPT_ENCODING, BodyProblem, read_body

REASONS = set(get_args(ImageMissingReason))
log = logging.getLogger(__name__)


class ImageLimits(Protocol):
    """What fetching and decoding read of the settings (``Settings`` has it, and so has the
    image-encoder's smaller :class:`ImageSettings`)."""

    @property
    def image_roots(self) -> Sequence[Path]: ...
    @property
    def image_allowed_hosts(self) -> Sequence[str]: ...
    @property
    def image_max_bytes(self) -> int: ...
    @property
    def image_max_pixels(self) -> int: ...
    @property
    def image_fetch_timeout_s(self) -> float: ...
    @property
    def image_batch_max_pixels(self) -> int: ...


@dataclass(frozen=True)
class ImageSettings:
    """The image limits alone: what the image-encoder's ``Deps`` holds instead of ``Settings``."""

    image_roots: tuple[Path, ...]
    image_allowed_hosts: tuple[str, ...]
    image_max_bytes: int
    image_max_pixels: int
    image_fetch_timeout_s: float
    image_batch_max_pixels: int

    @classmethod
    def of(cls, settings: Settings) -> ImageSettings:
        values = {f.name: getattr(settings, f.name) for f in fields(cls)}
        values["image_roots"] = tuple(values["image_roots"])
        values["image_allowed_hosts"] = tuple(values["image_allowed_hosts"])
        return cls(**values)


@dataclass(frozen=True)
class ImageProblem:
    """Why an offer has no usable image."""

    reason: ImageMissingReason
    detail: str


def resolve_file(uri: str, roots: Sequence[Path]) -> Path | ImageProblem:
    """The real path of a file URI, or ``forbidden`` when it leaves every allowed root."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            return ImageProblem("forbidden", f"file URI with a host: {parts.netloc}")
        raw = Path(unquote(parts.path))
    else:
        raw = Path(uri)
    resolved_roots = [Path(r).resolve() for r in roots]
    candidate = raw if raw.is_absolute() else (resolved_roots[0] / raw if resolved_roots else raw)
    real = candidate.resolve()
    if not any(real.is_relative_to(root) for root in resolved_roots):
        return ImageProblem("forbidden", "path is outside the allowed image roots")
    return real


def _read_file(path: Path, max_bytes: int) -> bytes | ImageProblem:
    try:
        size = path.stat().st_size
        if not path.is_file():
            return ImageProblem("not_found", "not a regular file")
        if size > max_bytes:
            return ImageProblem("too_large", f"{size} bytes > {max_bytes}")
        return path.read_bytes()
    except FileNotFoundError:
        return ImageProblem("not_found", "no such file")
    except OSError as exc:
        return ImageProblem("fetch_error", f"cannot read file: {exc.strerror or exc}")


async def _fetch_http(uri: str, settings: ImageLimits, client: httpx.AsyncClient) -> bytes | ImageProblem:
    host = (urlsplit(uri).hostname or "").lower()
    if host not in {h.lower() for h in settings.image_allowed_hosts}:
        return ImageProblem("forbidden", f"host {host or '?'} is not in image_allowed_hosts")
    limit = settings.image_max_bytes
    try:
        headers = {"Accept-Encoding": ACCEPT_ENCODING}
        async with client.stream("GET", uri, headers=headers, follow_redirects=False) as response:
            if response.status_code == 404:
                return ImageProblem("not_found", "HTTP 404")
            if response.status_code != 200:
                return ImageProblem("fetch_error", f"HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                return ImageProblem("too_large", f"{declared} bytes > {limit}")
            return await read_body(response, limit)  # decoded bytes counted (gzip bombs)
    except BodyProblem as problem:
        return ImageProblem(problem.reason, problem.detail)
    except httpx.TimeoutException:
        return ImageProblem("timeout", f"no answer within {settings.image_fetch_timeout_s}s")
    except httpx.HTTPError as exc:
        return ImageProblem("fetch_error", f"{type(exc).__name__}: {exc}")


async def fetch_image_bytes(
    uri: str | None, settings: ImageLimits, client: httpx.AsyncClient
) -> bytes | ImageProblem:
    """The raw bytes an image URI points to, within the size and time limits; never raises."""
    try:
        return await _fetch(uri, settings, client)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # a URI no parser accepts (NUL byte, bad host, bad port...)
        return ImageProblem("fetch_error", f"unusable image URI: {type(exc).__name__}: {exc}"[:300])


async def _fetch(uri: str | None, settings: ImageLimits, client: httpx.AsyncClient) -> bytes | ImageProblem:
    if not uri or not uri.strip():
        return ImageProblem("no_image", "the offer has no image")
    scheme = urlsplit(uri).scheme.lower()
    if scheme in ("http", "https"):
        try:
            return await asyncio.wait_for(
                _fetch_http(uri, settings, client), timeout=settings.image_fetch_timeout_s
            )
        except TimeoutError:
            return ImageProblem("timeout", f"no image within {settings.image_fetch_timeout_s}s")
    if scheme not in ("", "file"):
        return ImageProblem("forbidden", f"unsupported URI scheme {scheme!r}")
    path = resolve_file(uri, settings.image_roots)
    if isinstance(path, ImageProblem):
        return path
    return await asyncio.to_thread(_read_file, path, settings.image_max_bytes)


def decode(
    data: bytes, settings: ImageLimits, max_pixels: int | None = None, target: int | None = None
) -> Image.Image | ImageProblem:
    """Decoded RGB image (:func:`shared.ml.preprocess.decode_image`: JPEG draft mode down to
    ``target``, as training and offline scoring decode), or ``too_large`` / ``corrupt``; never
    raises."""
    if len(data) > settings.image_max_bytes:
        return ImageProblem("too_large", f"{len(data)} bytes > {settings.image_max_bytes}")
    try:
        limit = min(settings.image_max_pixels, max_pixels or settings.image_max_pixels)
        return decode_image(data, limit, target)
    except ValueError as exc:
        reason: ImageMissingReason = "too_large" if "too large" in str(exc) else "corrupt"
        return ImageProblem(reason, str(exc)[:300])
    except Exception as exc:  # a decoder bug must cost this image only
        return ImageProblem("corrupt", f"{type(exc).__name__}: {exc}"[:300])


def header_pixels(data: bytes) -> int | None:
    """Pixels the image header announces (None when there is no readable header)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return int(image.size[0]) * int(image.size[1])
    except Exception:
        return None


def admit_batch(raw: list[bytes | ImageProblem], settings: ImageLimits) -> list[bytes | ImageProblem]:
    """Keep a batch within ``image_batch_max_pixels``: an image the remaining budget cannot hold
    (read from its header, before its pixels are allocated) is ``too_large``."""
    budget = settings.image_batch_max_pixels
    out: list[bytes | ImageProblem] = []
    for item in raw:
        if isinstance(item, ImageProblem):
            out.append(item)
            continue
        pixels = header_pixels(item)
        if pixels is not None and settings.image_max_pixels >= pixels > budget:
            out.append(
                ImageProblem("too_large", f"{pixels} pixels > what is left of the batch budget ({budget})")
            )
            continue
        budget -= pixels or 0
        out.append(item)
    return out


# One decoding thread per core: Pillow releases the GIL while it decodes and resizes, so the
# photos of a batch decode in parallel, off the event loop, without oversubscribing the cores;
# a live batch's photos are decoded before the queued photos of a bulk batch (LanePool).
_DECODERS = LanePool(os.cpu_count() or 1, "decode")


async def load_images(
    uris: list[str | None],
    settings: ImageLimits,
    client: httpx.AsyncClient,
    target: int | None = None,
    lane: Lane = "live",
) -> list[Image.Image | ImageProblem]:
    """Fetch all images of a batch concurrently, then decode them in parallel off the event loop.

    ``target``: the largest input side of the models that will see them (JPEG draft mode);
    ``lane``: the batch's lane (live photos are decoded first).
    """
    raw = await asyncio.gather(*(fetch_image_bytes(u, settings, client) for u in uris))
    admitted = admit_batch(list(raw), settings)
    decoded = [
        r
        if isinstance(r, ImageProblem)
        else asyncio.wrap_future(_DECODERS.submit(lane, partial(decode, r, settings, None, target)))
        for r in admitted
    ]
    return [d if isinstance(d, ImageProblem) else await d for d in decoded]


def http_client(settings: ImageLimits) -> httpx.AsyncClient:
    """The client image fetches share (one connection pool per worker)."""
    return httpx.AsyncClient(timeout=settings.image_fetch_timeout_s, trust_env=False)
