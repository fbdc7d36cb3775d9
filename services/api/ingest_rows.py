"""The rows of a challenge-layout CSV, streamed and validated one at a time.

``catalog ingest`` reads files of any size: the csv module over the open file, one row in
memory at a time (memory does not grow with the file). Each row is checked with the API's own
model (``services.api.schemas.OfferIn``), so a row the API would answer 422 for is a *rejected
row* here, with its number and the reason, never truncated or skipped in silence. Rejected rows
go to a rejects file in the challenge layout (``rejects/X_*.csv`` beside the input, the same
columns plus ``source_row`` and ``reason``) that can be fixed and ingested again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from services.api.schemas import OfferIn

X_FILES = ("X_train_update.csv", "X_test_update.csv")
Y_FILE = "Y_train_CVw08PX.csv"
IMAGE_DIRS = ("images/image_train", "images/image_test")
REQUIRED_COLUMNS = ("designation", "productid", "imageid")
REJECT_COLUMNS = ("source_row", "reason")
FIELD_LIMIT = 4 * 1024 * 1024
"""Largest field the csv module reads (characters): far above the API's limits (those are
rejected by validation with their real length), yet one absurd field cannot exhaust memory."""
_COLUMN_OF = {
    "listing_id": "productid",
    "title": "designation",
    "description": "description",
    "image_uri": "imageid",
}


class LayoutError(ValueError):
    """The directory is not in the challenge layout."""


@dataclass(frozen=True)
class Source:
    """The X file of a challenge-layout directory."""

    data_dir: Path
    x_path: Path

    @property
    def size(self) -> int:
        return self.x_path.stat().st_size

    def fingerprint(self) -> str:
        """SHA-256 of the file's bytes (read in 1 MiB blocks): the same file, the same rows."""
        digest = hashlib.sha256()
        with self.x_path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        return digest.hexdigest()


def find_source(data_dir: Path) -> Source:
    """The X file of ``data_dir`` (train first), or LayoutError saying what was expected."""
    x_path = next((data_dir / name for name in X_FILES if (data_dir / name).is_file()), None)
    if x_path is None:
        raise LayoutError(
            f"{data_dir} has neither {' nor '.join(X_FILES)}: expected the challenge layout "
            "(generate one with `catalog synth`)."
        )
    return Source(data_dir, x_path)


def clean_id(value: str) -> str:
    """An id as the challenge writes it (``"123.0"`` from a spreadsheet is ``"123"``)."""
    value = (value or "").strip()
    return value[:-2] if value.endswith(".0") and value[:-2].isdigit() else value


@dataclass(frozen=True)
class Row:
    """One record of the X file: a valid ``offer`` or the ``reason`` it was rejected."""

    number: int  # 1-based data row (the header is row 0)
    line: int  # the physical line the record starts on (the header is line 1)
    fields: list[str]
    index: str  # the challenge's unnamed index column (the key of the Y file)
    offer: OfferIn | None
    reason: str | None


class RowReader:
    """Streams the rows of ``source``; ``bytes_read`` feeds a size-based progress bar.

    The file is decoded with ``surrogateescape``: an invalid UTF-8 byte rejects its row (and is
    written back unchanged to the rejects file) instead of stopping the whole file."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._raw = source.x_path.open("rb")
        self._text = io.TextIOWrapper(self._raw, encoding="utf-8", errors="surrogateescape", newline="")
        csv.field_size_limit(FIELD_LIMIT)
        self._reader = csv.reader(self._text)
        self.header = next(self._reader, [])
        missing = set(REQUIRED_COLUMNS) - set(self.header)
        if missing:
            self.close()
            raise LayoutError(f"{source.x_path} lacks the columns {sorted(missing)}")
        self._col = {name: i for i, name in enumerate(self.header)}
        data_dir = source.data_dir.resolve()
        self._image_dirs = [data_dir / folder for folder in IMAGE_DIRS]

    def __enter__(self) -> RowReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._text.close()

    @property
    def bytes_read(self) -> int:
        """Bytes taken from the file so far (ahead of the row by at most one read buffer)."""
        return self._raw.tell() if not self._raw.closed else self.source.size

    def __iter__(self) -> Iterator[Row]:
        number = 0
        while True:
            line = self._reader.line_num + 1
            try:
                fields = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:  # a field over FIELD_LIMIT: the reader resumes at the next line
                number += 1
                yield Row(number, line, [], "", None, f"unreadable CSV record: {exc}")
                continue
            if not fields:
                continue  # a blank line is no record
            number += 1
            yield self._row(number, line, fields)

    def _row(self, number: int, line: int, fields: list[str]) -> Row:
        col = self._col
        index = fields[col[""]] if "" in col and len(fields) > col[""] else ""
        if len(fields) != len(self.header):
            return Row(
                number, line, fields, index, None, f"expected {len(self.header)} fields, found {len(fields)}"
            )
        for name, value in zip(self.header, fields, strict=True):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return Row(number, line, fields, index, None, f"{name or 'index'}: not valid UTF-8")
        product_id = clean_id(fields[col["productid"]])
        if not product_id:
            return Row(number, line, fields, index, None, "productid: blank")
        description = fields[col["description"]].strip() if "description" in col else ""
        body = {
            "listing_id": product_id,
            "title": fields[col["designation"]],
            "description": description or None,
            "image_uri": self._image_uri(clean_id(fields[col["imageid"]]), product_id),
        }
        try:
            offer = OfferIn.model_validate(body)
        except ValidationError as exc:
            return Row(number, line, fields, index, None, _reason(exc, body))
        return Row(number, line, fields, index, offer, None)

    def _image_uri(self, image_id: str, product_id: str) -> str | None:
        if not image_id:
            return None
        name = f"image_{image_id}_product_{product_id}.jpg"
        for folder in self._image_dirs:
            if (folder / name).is_file():
                return (folder / name).as_uri()
        return (self._image_dirs[0] / name).as_uri()  # the image encoder reports not_found


def _reason(exc: ValidationError, body: Mapping[str, object]) -> str:
    """The API's 422 message, naming the CSV column (and the length of an over-long field)."""
    parts = []
    for err in exc.errors()[:5]:
        field = str(err["loc"][0]) if err["loc"] else ""
        column = _COLUMN_OF.get(field, field or "row")
        value, limit = body.get(field), (err.get("ctx") or {}).get("max_length")
        if err["type"] in ("string_too_long", "too_long") and isinstance(value, str):
            parts.append(f"{column}: too long, {len(value)} characters where the limit is {limit}")
        else:
            parts.append(f"{column}: {str(err['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


class RejectsWriter:
    """Writes rejected rows to ``folder/<X file name>`` (created on the first reject).

    The same columns as the input plus ``source_row`` and ``reason``; ``images`` and the Y file
    are linked from the input's folder, so the folder is itself in the challenge layout: fix
    the rows, then ``catalog ingest`` it. A run without rejects removes a stale file."""

    def __init__(self, source: Source, header: list[str], folder: Path | None = None) -> None:
        self.source = source
        self.folder = folder or source.data_dir / "rejects"
        self.path = self.folder / source.x_path.name
        extra = [name for name in REJECT_COLUMNS if name not in header]
        self.header = header + extra
        self._at = {name: self.header.index(name) for name in REJECT_COLUMNS}
        self._handle: io.TextIOWrapper | None = None
        self._writer: Any = None  # csv.writer's type is private
        self.count = 0

    def write(self, row: Row) -> None:
        if self._writer is None:
            self._open()
        assert self._writer is not None
        fields = list(row.fields) + [""] * (len(self.header) - len(row.fields))
        fields = fields[: len(self.header)]
        fields[self._at["source_row"]] = str(row.number)
        fields[self._at["reason"]] = row.reason or ""
        self._writer.writerow(fields)
        self.count += 1

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in ("images", Y_FILE):
            target, link = self.source.data_dir.resolve() / name, self.folder / name
            if target.exists() and not link.exists() and not link.is_symlink():
                os.symlink(os.path.relpath(target, self.folder.resolve()), link)
        self._handle = self.path.open("w", newline="", encoding="utf-8", errors="surrogateescape")
        self._writer = csv.writer(self._handle)
        self._writer.writerow(self.header)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        elif self.count == 0 and self.path.is_file():
            self.path.unlink()  # the rejects of an earlier run of this file: none this time
