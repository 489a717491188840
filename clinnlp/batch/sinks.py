"""Batch outputs that survive ``kill -9``: an append-only JSONL log and Parquet part files.

JSONL: each record is one line, written and flushed as a whole (fsync'd every
:data:`FSYNC_EVERY` records and on close). A kill can only tear the *last* line; opening
the file again cuts that torn tail off, and the ids of the complete lines are the resume
set. Each line is the record's JSON (the ``clinnlp schema`` shape) plus, when the input
had any, a ``"metadata"`` object with the source's other fields (MIMIC columns...).

Parquet cannot be appended to, so the Parquet sink writes ``OUTPUT.parts/part-NNNNN.parquet``
(one row group per flush, every 512 rows or 60 s, each part renamed into place only once
complete) and, on close, streams the parts into ``OUTPUT`` one row group at a time and
removes them. A killed run leaves its complete parts; the next run resumes from them and
merges everything. Columns:
``doc_id``, counts per mention type, ``record`` (the record JSON, as in the JSONL), and
``metadata`` (JSON): a JSON column keeps one schema across parts whatever the notes hold.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import IO, Any

from clinnlp.batch.protocols import SourceDoc
from clinnlp.errors import InputError
from clinnlp.schema import Record

FSYNC_EVERY = 64
_ID_PREFIX = '{"doc_id":'
_HASH_FIELD = ',"text_sha256":"'
_DECODER = json.JSONDecoder()


def record_line(record: Record, doc: SourceDoc) -> str:
    """The JSON text of one batch output line (no newline)."""
    data = record.model_dump_json()
    if doc.metadata:
        meta = json.dumps(dict(doc.metadata), ensure_ascii=False, separators=(",", ":"), default=str)
        data = f'{data[:-1]},"metadata":{meta}}}'
    return data


def line_key(line: str) -> tuple[str, str | None] | None:
    """``(doc_id, text_sha256)`` of a record's JSON text (the hash None if absent), read from
    its first fields (a record's JSON starts with them) without parsing the whole record;
    None when the line is not a record."""
    if line.startswith(_ID_PREFIX):
        at = len(_ID_PREFIX)
        while line[at : at + 1] == " ":
            at += 1
        try:
            value, at = _DECODER.raw_decode(line, at)
        except ValueError:
            return None
        text_hash = None
        if line.startswith(_HASH_FIELD, at):
            start = at + len(_HASH_FIELD)
            text_hash = line[start : start + 64]
        return str(value), text_hash if len(text_hash or "") == 64 else None
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if not isinstance(obj, dict) or "doc_id" not in obj:
        return None
    text_hash = obj.get("text_sha256")
    return str(obj["doc_id"]), text_hash if isinstance(text_hash, str) else None


class AppendLog:
    """An append-only JSON Lines file whose complete lines survive any crash.

    On open, a last line without its newline (a write torn by a kill) is truncated away.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] | None = None
        self._pending = 0
        #: the ``text_sha256`` of each id :meth:`ids` read (record logs: see ``line_key``)
        self.hashes: dict[str, str] = {}

    def repair(self) -> None:
        """Cut a torn last line off, so appending continues on a line boundary."""
        if not self.path.exists():
            return
        with self.path.open("rb+") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            at = size
            while at > 0:  # scan back in 64 KB steps to the last newline
                step = min(at, 1 << 16)
                handle.seek(at - step)
                chunk = handle.read(step)
                cut = chunk.rfind(b"\n")
                if cut >= 0:
                    handle.truncate(at - step + cut + 1)
                    return
                at -= step
            handle.truncate(0)

    def ids(self) -> set[str]:
        """The ids of the complete lines already in the file.

        A complete line without a ``doc_id`` means the file is not one this class wrote
        (``--out`` names a note file, say): that raises :class:`InputError` before the
        torn-tail repair could cut anything off it."""
        found: set[str] = set()
        if not self.path.exists():
            return found
        with self.path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.endswith("\n"):
                    break  # a torn last line: repaired below
                key = line_key(line)
                if key is None and line.strip():
                    raise InputError(
                        f"{self.path}: line {number} is not a clinnlp batch line (no doc_id), so the file was not "
                        "written by clinnlp batch; choose another --out (nothing was changed)"
                    )
                if key is not None:
                    found.add(key[0])
                    if key[1] is not None:
                        self.hashes[key[0]] = key[1]
        self.repair()
        return found

    def restart(self) -> None:
        """Empty the file (the errors of an earlier run: its documents are tried again)."""
        self.close()
        if self.path.exists():
            self.path.write_bytes(b"")

    def append(self, line: str) -> None:
        if self._handle is None:
            self.repair()
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(line + "\n")
        self._handle.flush()  # in the OS now: a kill -9 of this process cannot lose it
        self._pending += 1
        if self._pending >= FSYNC_EVERY:
            self.sync()

    def sync(self) -> None:
        """fsync, so a power cut loses nothing either."""
        if self._handle is not None and self._pending:
            os.fsync(self._handle.fileno())
            self._pending = 0

    def close(self) -> None:
        if self._handle is not None:
            self.sync()
            self._handle.close()
            self._handle = None


class JsonlSink:
    """Records as JSON Lines, appended durably; the resume set is the ids in the file."""

    def __init__(self, out: str) -> None:
        self.path = Path(out)
        if not self.path.parent.is_dir():
            raise InputError(f"{out}: folder {str(self.path.parent)!r} does not exist")
        self.log = AppendLog(self.path)

    def done_ids(self) -> set[str]:
        return self.log.ids()

    def done_hashes(self) -> dict[str, str]:
        """Read by :meth:`done_ids` (the same pass over the file), which reads them if not yet."""
        if not self.log.hashes:
            self.log.ids()
        return dict(self.log.hashes)

    def write(self, record: Record, doc: SourceDoc) -> None:
        self.log.append(record_line(record, doc))

    def close(self) -> None:
        self.log.close()


class ParquetSink:
    """Records as Parquet: part files during the run, merged into one file on close."""

    ROWS_PER_PART = 512
    #: A part is also written when its first buffered row is this old, so a killed slow run
    #: (a big model on a CPU) loses at most this much work, not up to 511 records.
    SECONDS_PER_PART = 60.0

    def __init__(self, out: str) -> None:
        self.path = Path(out)
        if not self.path.parent.is_dir():
            raise InputError(f"{out}: folder {str(self.path.parent)!r} does not exist")
        self.parts = self.path.with_name(self.path.name + ".parts")
        self._rows: list[dict[str, Any]] = []
        self._since = 0.0
        self._closed = False

    def _schema(self) -> Any:
        import pyarrow as pa

        return pa.schema(
            [
                ("doc_id", pa.string()),
                ("diagnoses", pa.int32()),
                ("medications", pa.int32()),
                ("findings", pa.int32()),
                ("record", pa.string()),
                ("metadata", pa.string()),
            ]
        )

    def _part_files(self) -> list[Path]:
        return sorted(self.parts.glob("part-*.parquet")) if self.parts.is_dir() else []

    def done_ids(self) -> set[str]:
        import pyarrow.parquet as pq

        found: set[str] = set()
        files = self._part_files() + ([self.path] if self.path.exists() else [])
        for file in files:
            try:
                table = pq.read_table(file, columns=["doc_id"])
            except Exception as exc:  # noqa: BLE001  pyarrow raises several types for a corrupt file
                raise InputError(f"{file}: not a readable Parquet file ({exc}); move it away to start afresh") from None
            found.update(table.column("doc_id").to_pylist())
        return found

    def done_hashes(self) -> dict[str, str]:
        """From the start of each row's record JSON, read a row group at a time."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        found: dict[str, str] = {}
        for file in self._part_files() + ([self.path] if self.path.exists() else []):
            source = pq.ParquetFile(file)
            for batch in source.iter_batches(batch_size=4096, columns=["record"]):
                heads = pc.utf8_slice_codeunits(batch.column("record"), 0, 4096).to_pylist()
                for head in heads:
                    key = line_key(head or "")
                    if key is not None and key[1] is not None:
                        found[key[0]] = key[1]
        return found

    def write(self, record: Record, doc: SourceDoc) -> None:
        meta = json.dumps(dict(doc.metadata), ensure_ascii=False, default=str) if doc.metadata else None
        if not self._rows:
            self._since = time.monotonic()
        self._rows.append(
            {
                "doc_id": record.doc_id,
                "diagnoses": len(record.diagnoses),
                "medications": len(record.medications),
                "findings": len(record.findings),
                "record": record.model_dump_json(),
                "metadata": meta,
            }
        )
        if len(self._rows) >= self.ROWS_PER_PART or time.monotonic() - self._since >= self.SECONDS_PER_PART:
            self._flush()

    def _flush(self) -> None:
        """Write the buffered rows as the next part, atomically (tmp file + rename)."""
        if not self._rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.parts.mkdir(exist_ok=True)
        existing = self._part_files()
        number = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0
        final = self.parts / f"part-{number:05d}.parquet"
        tmp = self.parts / f".tmp-{final.name}"
        pq.write_table(pa.Table.from_pylist(self._rows, schema=self._schema()), tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, final)
        self._rows = []

    def close(self) -> None:
        """Merge the earlier output and all parts into ``OUTPUT`` (row group by row group)."""
        if self._closed:
            return
        self._closed = True
        self._flush()
        parts = self._part_files()
        if not parts:
            return
        import pyarrow.parquet as pq

        tmp = self.path.with_name(f".{self.path.name}.merging")
        seen: set[str] = set()  # a kill between the rename and the part clean-up leaves both
        with pq.ParquetWriter(tmp, self._schema()) as writer:
            for file in ([self.path] if self.path.exists() else []) + parts:
                source = pq.ParquetFile(file)
                for group in range(source.num_row_groups):
                    table = source.read_row_group(group)
                    ids = table.column("doc_id").to_pylist()
                    keep = [i for i, doc_id in enumerate(ids) if doc_id not in seen]
                    seen.update(ids)
                    if len(keep) < len(ids):
                        table = table.take(keep)
                    if table.num_rows:
                        writer.write_table(table)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        for part in parts:  # only after the merged file is in place
            part.unlink()
        for leftover in self.parts.glob(".tmp-*"):
            leftover.unlink()
        self.parts.rmdir()
