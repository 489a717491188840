"""PHEE reader: pharmacovigilance events in case-report sentences (JSON lines).

Each line is ``{"id", "context", "is_mult_event", "annotations": [{"events": [...]}]}``.
An event has ``event_type`` (``Adverse_event`` or ``Potential_therapeutic_event``) and
arguments, each ``{"text": [[piece, ...], ...], "start": [[offset, ...], ...],
"entity_id": [...]}``: one inner list per mention, one piece per fragment (a mention
can be discontinuous). Main arguments are ``Trigger``, ``Subject``, ``Treatment`` and
``Effect``; sub-arguments nest inside them (``Treatment.Drug``, ``.Dosage``, ``.Route``,
``.Freq``, ``.Duration``, ``.Time_elapsed``, ``.Disorder``, ``.Combination[].Drug``;
``Subject.Age``, ``.Gender``, ``.Population``, ``.Race``, ``.Disorder``). ``Speculated``,
``Negated`` (``value: true``) and ``Severity`` (``value: High|Medium|Low``) are cues
with a value that qualifies the whole event.

Spans we emit, labelled by argument name: every main and sub-argument, except that
``Effect`` is labelled ``Adverse_event`` or ``Therapeutic_effect`` by its event type
(the adverse event is what pharmacovigilance wants). ``Disorder`` gets a ``role``
attribute (``Treatment``: the indication; ``Subject``: a condition of the patient).
Cue spans are labelled ``Speculated``/``Negated``/``Severity``. The event's flags
(``Speculated=true``, ``Negated=true``, ``Severity=High``, ``event_type``) are set on
its ``Effect`` and ``Trigger`` spans. One mention shared by several events becomes one
span whose attributes are merged (differing values joined with ``|``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from clinnlp.errors import InputError
from clinnlp.readers.types import (
    GoldDocument,
    GoldSpan,
    make_span,
    merge_attributes,
    sort_spans,
    utf8_lines,
)

MAIN_ARGUMENTS = ("Trigger", "Subject", "Treatment", "Effect")
CUES = ("Speculated", "Negated", "Severity")
EFFECT_LABELS = {"Adverse_event": "Adverse_event", "Potential_therapeutic_event": "Therapeutic_effect"}


def read_phee(path: str | Path) -> list[GoldDocument]:
    """Read a PHEE ``.json`` (JSON lines) file."""
    path = Path(path)
    docs: list[GoldDocument] = []
    for lineno, line in utf8_lines(path, newline=None):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            record = json.loads(line)
            docs.append(_document(record, where))
        except InputError:
            raise
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: not JSON ({exc.msg} at column {exc.colno})") from None
        except KeyError as exc:  # the keys looked up are PHEE field names, never corpus text
            raise InputError(f"{where}: unexpected PHEE structure (no field {exc})") from None
        except (TypeError, ValueError, IndexError, AttributeError) as exc:
            # the exception's type only: its message could quote a value of the record
            raise InputError(f"{where}: unexpected PHEE structure ({type(exc).__name__})") from None
    return docs


def _document(record: dict[str, Any], where: str) -> GoldDocument:
    text = record["context"]
    found: dict[tuple[str, tuple[tuple[int, int], ...]], GoldSpan] = {}

    def add(label: str, argument: dict[str, Any], attributes: dict[str, str]) -> None:
        ids = argument.get("entity_id") or [None] * len(argument["text"])
        for pieces_text, pieces_start, entity_id in zip(
            argument["text"], argument["start"], ids, strict=True
        ):
            if len(pieces_text) != len(pieces_start):
                raise InputError(
                    f"{where}: {label} has {len(pieces_text)} pieces but {len(pieces_start)} starts"
                )
            pieces = [(s, s + len(t)) for t, s in zip(pieces_text, pieces_start, strict=True)]
            span = make_span(text, pieces, label, where, expected=list(pieces_text), span_id=entity_id)
            key = (label, span.pieces)
            if key in found:
                merge_attributes(found[key].attributes, attributes)
            else:
                merge_attributes(span.attributes, attributes)
                found[key] = span

    for annotation in record["annotations"]:
        for event in annotation["events"]:
            _add_event(event, add)
    doc_attrs = {"is_mult_event": str(bool(record.get("is_mult_event"))).lower()}
    return GoldDocument(
        doc_id=str(record["id"]), text=text, spans=sort_spans(list(found.values())), attributes=doc_attrs
    )


def _add_event(event: dict[str, Any], add: Any) -> None:
    event_type = event["event_type"]
    flags = {"event_type": event_type}
    for cue in CUES:
        if cue in event:
            value = event[cue].get("value", True)
            flags[cue] = str(value).lower() if isinstance(value, bool) else str(value)
            add(cue, event[cue], {"value": flags[cue]})
    for name in MAIN_ARGUMENTS:
        argument = event.get(name)
        if not isinstance(argument, dict):
            continue
        if name == "Effect":
            add(EFFECT_LABELS.get(event_type, "Effect"), argument, flags)
        elif name == "Trigger":
            add(name, argument, flags)
        else:
            add(name, argument, {})
        for sub, value in argument.items():
            if sub in ("text", "start", "entity_id", "value"):
                continue
            if sub == "Combination":
                for combination in value:  # nested events listing drugs given together
                    if isinstance(combination.get("Drug"), dict):
                        add("Drug", combination["Drug"], {"combination": "true"})
            elif isinstance(value, dict):
                add(sub, value, {"role": name} if sub == "Disorder" else {})
