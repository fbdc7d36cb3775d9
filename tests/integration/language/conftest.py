"""Fixtures of the language worker's integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tools.standins.translator import StandinTranslator, running_standin


@pytest.fixture
def standin() -> Iterator[StandinTranslator]:
    """A fresh stand-in translation server (Google, Libre and MyMemory protocols)."""
    with running_standin() as server:
        yield server
