from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from services.cli.main import app
from shared.broker import payload_of
from shared.config import Settings
from shared.contract import EVENT_OF_STREAM, ListingSubmitted, Origin, Stream, lane_stream, lanes_of


def test_submitted_example_validates_and_round_trips() -> None:
    example = ListingSubmitted.model_json_schema()["examples"][0]
    event = ListingSubmitted.model_validate(example)
    assert ListingSubmitted.model_validate_json(event.model_dump_json()) == event


def test_events_reject_unknown_fields_and_missing_ids() -> None:
    with pytest.raises(ValidationError, match="submission_id"):
        ListingSubmitted.model_validate({"listing_id": "1"})
    event = ListingSubmitted.new("1", "t")
    with pytest.raises(ValidationError, match="extra"):
        ListingSubmitted.model_validate({**event.model_dump(), "unexpected": 1})


def test_stamped_adds_a_stage_without_touching_the_original() -> None:
    event = ListingSubmitted.new("1", "t", origin=Origin(kind="reclassify"))
    later = event.stamped("prepared")
    assert set(later.timestamps) == {"submitted", "prepared"}
    assert set(event.timestamps) == {"submitted"}
    assert later.envelope()["origin"].kind == "reclassify"


def test_every_stream_has_an_event_type() -> None:
    assert set(EVENT_OF_STREAM) == set(Stream)


def test_settings_prefix_keys_and_embedded_database(tmp_path: Path) -> None:
    settings = Settings(stream_prefix="t1:", var_dir=tmp_path)
    assert settings.key(Stream.SUBMITTED) == "t1:listings.submitted"
    assert settings.effective_database_url == f"sqlite:///{tmp_path.resolve() / 'catalog.db'}"
    with pytest.raises(ValidationError):
        Settings(stream_prefix="has space")


def test_payload_of_reads_faststream_and_raw_entries() -> None:
    assert payload_of({b"data": b'{"a": 1}'}) == b'{"a": 1}'
    assert payload_of({b"__data__": b"plain json"}) == b"plain json"


def test_docs_command_lists_every_stream_and_its_bulk_lane_with_schemas(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    result = CliRunner().invoke(app, ["docs", "--out", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    channels = {c["address"] for c in document["channels"].values()}
    assert channels == {lane_stream(s, lane) for s in Stream for lane in lanes_of(s)}
    assert "listings.submitted.bulk" in channels and "listings.dead.bulk" not in channels
    schemas = document["components"]["schemas"]
    for model in EVENT_OF_STREAM.values():
        assert model.__name__ in schemas
    assert "submission_id" in schemas["ListingSubmitted"]["properties"]


@pytest.mark.parametrize("model", list(EVENT_OF_STREAM.values()), ids=lambda m: m.__name__)
def test_every_event_documents_a_valid_example(model: type) -> None:
    schema = model.model_json_schema()  # type: ignore[attr-defined]
    assert schema["examples"], f"{model.__name__} has no example"
    for example in schema["examples"]:
        model.model_validate(example)  # type: ignore[attr-defined]
    undocumented = [
        k
        for k, v in schema["properties"].items()
        if "description" not in v and "$ref" not in v and k not in ("schema_version",)
    ]
    assert not undocumented, f"{model.__name__}: fields without description: {undocumented}"


def test_committed_asyncapi_document_is_current(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/asyncapi.json is what `make docs` writes now (stable order, so no run-to-run diff)."""
    import os

    from services.cli.asyncapi import build_document

    for key in [k for k in os.environ if k.startswith("CATALOG_")]:
        monkeypatch.delenv(key)  # the defaults, as `make docs` on a fresh clone

    committed = json.loads((Path(__file__).parents[3] / "docs" / "asyncapi.json").read_text("utf-8"))
    generated = build_document("")
    assert json.dumps(generated, indent=2) == json.dumps(committed, indent=2), (
        "docs/asyncapi.json is stale: run `make docs` and commit it"
    )
