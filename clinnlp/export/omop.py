"""OMOP CDM v5.4 NOTE_NLP rows for a record, and the NOTE / NOTE_NLP table definitions.

One row per mention (diagnoses, then medications, then findings). Mapping choices:

- ``note_id``: the OMOP ``note_id`` when the note came from a NOTE table; else the doc id when
  it is a decimal integer, else a stable 63-bit hash of the doc id (:func:`note_id_for`). The
  database sink keeps the original doc id next to it in its ``clinnlp_note`` table.
- ``lexical_variant``: the mention as written; ``offset``: its start character (the end is
  ``offset + len(lexical_variant)``); ``snippet``: its sentence, cut to 250 characters around it.
- ``note_nlp_concept_id`` / ``note_nlp_source_concept_id``: 0 unless a concept lookup is given
  (the database sink uses the target database's own CONCEPT table when it has one); the source
  code is always kept in ``term_modifiers`` as ``code=SYSTEM:CODE``.
- ``term_exists``: ``N`` for negated (not resolved), uncertain, hypothetical or family
  mentions and drugs the patient is allergic to, else ``Y`` (see :func:`term_exists`);
  ``term_temporal``: ``past`` for historical mentions, else ``present``;
  ``term_modifiers``: ``key=value`` pairs joined by ``;`` (assertion flags, subject, section,
  kind, medication attributes, finding value and interpretation, the codes), at most 2000 chars.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from clinnlp.schema import Code, Finding, Medication, Mention, Record

NOTE_NLP = "note_nlp"
NOTE = "note"
DONE = "clinnlp_note"
NLP_SYSTEM_PREFIX = "clinnlp"

#: A concept lookup: (clinnlp system, code) -> (source concept id, standard concept id), or None.
ConceptLookup = Callable[[str, str], "tuple[int, int] | None"]

metadata = MetaData()

#: OMOP CDM v5.4 NOTE_NLP. Ids are BIGINT (the CDM allows it; a hashed note_id needs 63 bits).
note_nlp_table = Table(
    NOTE_NLP,
    metadata,
    Column("note_nlp_id", BigInteger, primary_key=True, autoincrement=False),
    Column("note_id", BigInteger, nullable=False, index=True),
    Column("section_concept_id", Integer),
    Column("snippet", String(250)),
    Column("offset", String(50)),
    Column("lexical_variant", String(250), nullable=False),
    Column("note_nlp_concept_id", Integer),
    Column("note_nlp_source_concept_id", Integer),
    Column("nlp_system", String(250)),
    Column("nlp_date", Date, nullable=False),
    Column("nlp_datetime", DateTime),
    Column("term_exists", String(1)),
    Column("term_temporal", String(50)),
    Column("term_modifiers", String(2000)),
)

#: clinnlp's bookkeeping: which documents were written (zero-mention notes too), as which note_id.
done_table = Table(
    DONE,
    metadata,
    Column("doc_id", String(1000), primary_key=True),
    Column("note_id", BigInteger, nullable=False),
    Column("text_sha256", String(64), nullable=False),
    Column("mentions", Integer, nullable=False),
    Column("nlp_system", String(250), nullable=False),
    Column("written_at", DateTime, nullable=False),
)

#: OMOP CDM v5.4 NOTE, for tests and for users who want to load notes with clinnlp's tables.
note_table = Table(
    NOTE,
    MetaData(),
    Column("note_id", BigInteger, primary_key=True, autoincrement=False),
    Column("person_id", BigInteger, nullable=False),
    Column("note_date", Date, nullable=False),
    Column("note_datetime", DateTime),
    Column("note_type_concept_id", Integer, nullable=False),
    Column("note_class_concept_id", Integer, nullable=False),
    Column("note_title", String(250)),
    Column("note_text", Text, nullable=False),
    Column("encoding_concept_id", Integer, nullable=False),
    Column("language_concept_id", Integer, nullable=False),
    Column("provider_id", BigInteger),
    Column("visit_occurrence_id", BigInteger),
    Column("visit_detail_id", BigInteger),
    Column("note_source_value", String(50)),
    Column("note_event_id", BigInteger),
    Column("note_event_field_concept_id", Integer),
)

#: A doc id used as the note_id as is: a canonical integer only, so "7" and "007" (different
#: documents) never share a note_id; anything else is hashed.
_INTEGER_ID = re.compile(r"^(?:0|[1-9]\d{0,17})$")


def note_id_for(doc_id: str, metadata_note_id: Any = None) -> int:
    """The integer OMOP note_id of a document (see the module docstring for the rule)."""
    if metadata_note_id is not None:
        try:
            return int(metadata_note_id)
        except (TypeError, ValueError):
            pass
    if _INTEGER_ID.match(doc_id):
        return int(doc_id)
    return int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "big") >> 1


def nlp_system(record: Record) -> str:
    """``clinnlp <version>`` plus the NER model id when a model was used."""
    name = f"{NLP_SYSTEM_PREFIX} {record.provenance.clinnlp_version}"
    if record.provenance.model_id:
        name += f" ({record.provenance.model_id})"
    return name[:250]


def _snippet(mention: Mention, text: str | None) -> str:
    if text is None:
        return " ".join(mention.text.split())[:250]
    start, end = mention.sentence.start, mention.sentence.end
    if end - start > 250:  # centre a 250-character window on the mention
        middle = (mention.start + mention.end) // 2
        start = max(mention.sentence.start, min(middle - 125, mention.sentence.end - 250))
        end = start + 250
    return " ".join(text[start:end].split())[:250]


def _clean(value: object) -> str:
    return " ".join(str(value).replace(";", ",").split())


def _modifiers(kind: str, mention: Mention, code: Code | None) -> str:
    a = mention.assertion
    pairs: list[tuple[str, object]] = [
        ("kind", kind),
        ("negated", a.negated),
        ("uncertain", a.uncertain),
        ("historical", a.historical),
        ("hypothetical", a.hypothetical),
        ("resolved", a.resolved),
        ("subject", "family" if a.family else "patient"),
    ]
    if mention.section:
        pairs.append(("section", mention.section))
    if code is not None:
        pairs.append(("code", f"{code.system}:{code.code}"))
    if isinstance(mention, Medication):
        for name in ("strength", "dose", "duration"):
            q = getattr(mention, name)
            if q is not None:
                pairs.append((name, q.text))
        pairs += [(n, getattr(mention, n)) for n in ("route", "form", "status") if getattr(mention, n)]
        if mention.frequency is not None:
            pairs.append(("frequency", mention.frequency.text))
            if mention.frequency.as_needed:
                pairs.append(("as_needed", True))
    if isinstance(mention, Finding):
        if mention.value is not None:
            pairs.append(("value", mention.value.text))
            if mention.value.unit:
                pairs.append(("unit", mention.value.unit))
        if mention.interpretation:
            pairs.append(("interpretation", mention.interpretation))
    pairs.append(("confidence", round(mention.confidence, 4)))
    head = ";".join(f"{k}={_clean(str(v).lower() if isinstance(v, bool) else v)}" for k, v in pairs)
    codes = "|".join(f"{c.system}:{c.code}" for c in mention.codes)
    text = f"{head};codes={_clean(codes)}" if codes else head
    return text if len(text) <= 2000 else text[:1997] + "..."


def _mentions(record: Record) -> Iterator[tuple[str, Mention]]:
    for dx in record.diagnoses:
        yield "diagnosis", dx
    for med in record.medications:
        yield "medication", med
    for finding in record.findings:
        yield f"finding:{finding.kind}", finding


def term_exists(mention: Mention) -> str:
    """``Y`` when the patient has or had it (the OHDSI convention): ``N`` for negated (a
    resolved one existed: ``Y``, with ``term_temporal`` past), uncertain (rule-out, possible,
    unlikely), hypothetical and family mentions, and for a drug the patient is allergic to."""
    a = mention.assertion
    negated = a.negated and not a.resolved
    allergic = isinstance(mention, Medication) and mention.status == "allergic"
    return "N" if (negated or a.uncertain or a.hypothetical or a.family or allergic) else "Y"


def note_nlp_rows(
    record: Record,
    *,
    note_id: int,
    text: str | None = None,
    when: datetime | None = None,
    lookup: ConceptLookup | None = None,
) -> list[dict[str, Any]]:
    """One NOTE_NLP row per mention, without ``note_nlp_id`` (the writer assigns it)."""
    when = when or datetime.now()
    system = nlp_system(record)
    rows: list[dict[str, Any]] = []
    for kind, mention in _mentions(record):
        code, ids = _concept_ids(mention.codes, lookup)
        a = mention.assertion
        rows.append({
            "note_id": note_id,
            "section_concept_id": 0,
            "snippet": _snippet(mention, text),
            "offset": str(mention.start),
            "lexical_variant": mention.text[:250],
            "note_nlp_concept_id": ids[1],
            "note_nlp_source_concept_id": ids[0],
            "nlp_system": system,
            "nlp_date": when.date() if isinstance(when, datetime) else date.today(),
            "nlp_datetime": when,
            "term_exists": term_exists(mention),
            "term_temporal": "past" if a.historical else "present",
            "term_modifiers": _modifiers(kind, mention, code),
        })
    return rows


def _concept_ids(codes: list[Code], lookup: ConceptLookup | None) -> tuple[Code | None, tuple[int, int]]:
    """The first code (best first) the lookup knows, and its (source, standard) concept ids."""
    if lookup is not None:
        for code in codes:
            ids = lookup(code.system, code.code)
            if ids is not None:
                return code, ids
    return (codes[0] if codes else None), (0, 0)
