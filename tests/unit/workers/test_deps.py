"""A worker's ``Deps`` holds the settings it uses, never the whole ``Settings``.

``open_deps(settings, redis)`` reads what the kind needs from the settings (fields, a small view
such as :class:`ImageSettings`, or a collaborator bound to them); the handlers then show in their
``Deps`` exactly what they depend on.
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from pathlib import Path

import pytest

from services.cli.registry import WORKERS
from services.image_encoder.images import ImageSettings
from shared.config import Settings


def deps_class(kind: str) -> type:
    module = sys.modules[WORKERS[kind].open.__module__]
    deps = module.Deps
    assert dataclasses.is_dataclass(deps), f"{module.__name__}.Deps is not a dataclass"
    return deps


def mentions_settings(annotation: object) -> bool:
    return annotation is Settings or any(mentions_settings(a) for a in typing.get_args(annotation))


@pytest.mark.parametrize("kind", sorted(WORKERS))
def test_no_worker_deps_holds_the_whole_settings(kind: str) -> None:
    deps = deps_class(kind)
    hints = typing.get_type_hints(deps, vars(sys.modules[deps.__module__]))
    holding = [f.name for f in dataclasses.fields(deps) if mentions_settings(hints[f.name])]
    assert holding == [], f"{deps.__module__}.Deps holds Settings in {holding}"


def test_the_check_sees_settings_inside_an_optional() -> None:
    assert mentions_settings(Settings | None) and not mentions_settings(ImageSettings | None)


def test_image_settings_are_the_settings_own_values(tmp_path: Path) -> None:
    settings = Settings(image_roots=[tmp_path], image_allowed_hosts=["img.example"], image_max_bytes=1234)
    limits = ImageSettings.of(settings)
    assert limits.image_roots == (tmp_path,) and limits.image_allowed_hosts == ("img.example",)
    assert (limits.image_max_bytes, limits.image_max_pixels, limits.image_batch_max_pixels) == (
        1234,
        settings.image_max_pixels,
        settings.image_batch_max_pixels,
    )
    assert limits.image_fetch_timeout_s == settings.image_fetch_timeout_s
