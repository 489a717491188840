"""A ``clinnlp batch`` sink that writes one FHIR R4 Bundle per note.

Two layouts, chosen by the file name:

- ``*.ndjson``: FHIR bulk-data style NDJSON, one Bundle (``type: collection``) per line.
- ``*.fhir.json``: one JSON document, a ``collection`` Bundle whose entries are the per-note
  Bundles. It is written one entry per line between a header line and a ``]}`` footer line,
  so it can still be appended to durably; it is valid JSON once the sink is closed.

Each write is flushed and fsynced before it returns. On open, an existing file is kept: a
torn last line (a crash mid-write) is cut off, and for ``.fhir.json`` the footer is removed
so the new entries follow the old ones. ``done_ids`` reads the doc ids back from the file
(``Bundle.identifier``), which is what ``--resume`` skips. The sink never removes a note it
wrote: writing the same doc id again appends a second Bundle (with the same stable ids), so an
engine that re-runs without resuming should open it with ``overwrite=True``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, TextIO

from clinnlp.batch.protocols import SourceDoc
from clinnlp.errors import InputError, ResourceError
from clinnlp.export.fhir import DOC_ID_SYSTEM, TEXT_SHA256_SYSTEM, record_to_bundle
from clinnlp.schema import Record

NDJSON_SUFFIX = ".ndjson"
BUNDLE_SUFFIX = ".fhir.json"
_HEADER = '{"resourceType":"Bundle","type":"collection","entry":['
_FOOTER = "]}"


def is_fhir_path(out: str) -> bool:
    """True for the output names this sink writes."""
    return out.endswith(NDJSON_SUFFIX) or out.endswith(BUNDLE_SUFFIX)


def _doc_id(bundle: Any) -> str | None:
    if isinstance(bundle, dict) and bundle.get("resourceType") == "Bundle":
        identifier = bundle.get("identifier") or {}
        if identifier.get("system") == DOC_ID_SYSTEM and isinstance(identifier.get("value"), str):
            return identifier["value"]
    return None


def _text_hash(bundle: dict[str, Any]) -> str | None:
    """The note's ``text_sha256``, kept as an identifier of the Bundle's DocumentReference."""
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "DocumentReference":
            for identifier in resource.get("identifier") or []:
                if isinstance(identifier, dict) and identifier.get("system") == TEXT_SHA256_SYSTEM:
                    value = identifier.get("value")
                    return value if isinstance(value, str) else None
    return None


class FhirNdjsonSink:
    """Appends one Bundle per note to a ``.ndjson`` or ``.fhir.json`` file (see the module doc)."""

    def __init__(self, out: str, *, overwrite: bool = False) -> None:
        """Open ``out`` for appending (what resume needs); ``overwrite`` starts it empty instead."""
        if not is_fhir_path(out):
            raise InputError(f"FHIR output {out!r} must end with {NDJSON_SUFFIX} or {BUNDLE_SUFFIX}")
        self.path = Path(out)
        if not self.path.parent.is_dir():
            raise InputError(f"folder {str(self.path.parent)!r} of the FHIR output does not exist")
        self.wrapped = out.endswith(BUNDLE_SUFFIX)
        self._done: set[str] = set()
        self._hashes: dict[str, str] = {}
        self._count = 0
        self._stream: TextIO | None = None
        if overwrite and self.path.exists():
            self._recover()  # refuses, untouched, a file that is not a clinnlp FHIR output
            self.path.write_bytes(b"")
            self._done.clear()
            self._count = 0
        self._recover()
        try:
            self._stream = self.path.open("a", encoding="utf-8")
        except OSError as exc:
            raise ResourceError(f"cannot open {str(self.path)!r} for writing: {exc.strerror}") from exc
        if self.wrapped and self.path.stat().st_size == 0:
            self._append(_HEADER)

    def _recover(self) -> None:
        """Read the ids already written; cut off a torn last line (and the ``.fhir.json`` footer).

        Only what a killed write can leave is cut: the final bytes after the last newline. A
        complete line that is not one of ours means the file is something else, and it is
        refused untouched rather than overwritten.
        """
        if not self.path.exists():
            return
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise ResourceError(f"cannot read {str(self.path)!r}: {exc.strerror}") from exc
        keep = data.rfind(b"\n") + 1  # everything after the last newline is a torn write
        lines = data[:keep].decode("utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines, start=1):
            line = line.strip()
            if self.wrapped and number == 1 and line == _HEADER:
                continue
            if self.wrapped and number == len(lines) and line == _FOOTER:
                keep -= len(data[:keep].splitlines(keepends=True)[-1])
                continue
            bundle = self._line_bundle(line) if line and not (self.wrapped and number == 1) else None
            doc_id = _doc_id(bundle)
            if doc_id is None and line:
                raise InputError(
                    f"{str(self.path)!r} is not a clinnlp FHIR output (line {number} is not one of its Bundles); "
                    "choose another --out"
                )
            if doc_id is not None:
                self._done.add(doc_id)
                self._count += 1
                text_hash = _text_hash(bundle) if isinstance(bundle, dict) else None
                if text_hash is not None:
                    self._hashes[doc_id] = text_hash
        if keep != len(data):
            with self.path.open("r+b") as stream:
                stream.truncate(keep)
                os.fsync(stream.fileno())

    def _line_bundle(self, line: str) -> Any:
        try:
            item = json.loads(line.lstrip(",") if self.wrapped else line)
        except ValueError:
            return None
        return item.get("resource") if self.wrapped and isinstance(item, dict) else item

    def _append(self, line: str) -> None:
        if self._stream is None:
            raise ResourceError(f"the FHIR output {str(self.path)!r} is already closed")
        self._stream.write(line + "\n")
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def done_ids(self) -> set[str]:
        """Doc ids already in the file (read when the sink was opened, plus those written since)."""
        return set(self._done)

    def done_hashes(self) -> dict[str, str]:
        """The notes' ``text_sha256`` from the Bundles' DocumentReference identifiers."""
        return dict(self._hashes)

    def write(self, record: Record, doc: SourceDoc) -> None:
        """Append the note's Bundle and make it durable before returning."""
        bundle = record_to_bundle(record, text=doc.text, metadata=doc.metadata)
        compact = json.dumps(bundle, ensure_ascii=False, separators=(",", ":"))
        if self.wrapped:
            entry = json.dumps({"fullUrl": f"urn:uuid:{bundle['id']}", "resource": bundle}, ensure_ascii=False, separators=(",", ":"))
            compact = ("," if self._count else "") + entry
        self._append(compact)
        self._done.add(record.doc_id)
        self._hashes[record.doc_id] = record.text_sha256
        self._count += 1

    def close(self) -> None:
        """Write the footer (``.fhir.json``) and close the file; safe to call twice."""
        if self._stream is None:
            return
        try:
            if self.wrapped:
                self._append(_FOOTER)
        finally:
            self._stream.close()
            self._stream = None
