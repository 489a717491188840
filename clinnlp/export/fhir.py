"""One FHIR R4 (4.0.1) Bundle per record: Condition, FamilyMemberHistory, MedicationStatement, Observation.

The Bundle (``type: collection``) holds a ``DocumentReference`` for the note, then one resource
per mention. Each resource points back to its evidence twice: a standard reference to the
DocumentReference (``Condition.evidence.detail``, ``MedicationStatement.derivedFrom``,
``Observation.derivedFrom``) and the standard ``derivation-reference`` extension with the
character ``offset`` and ``length`` of the mention in the note. A clinnlp extension keeps the
raw assertion flags, the confidence and the component, so nothing the record said is lost.

Mapping choices (the README's "FHIR and OMOP outputs" section says the same):

- diagnosis: ``Condition``; negated -> ``verificationStatus: refuted`` (no clinicalStatus),
  uncertain -> ``provisional``, hypothetical -> ``unconfirmed``, otherwise ``confirmed``;
  resolved ("pneumonia resolved") -> ``confirmed`` with ``clinicalStatus: resolved``;
  ``clinicalStatus: active`` only when current and asserted: a historical mention ("history
  of MI") gets none, because the note does not say whether it is still active.
- family mention (diagnosis or finding): one ``FamilyMemberHistory`` per relative it is about
  ("mother and sister with breast cancer": two; v3 RoleCode; ``FAMMEMB`` when none is named;
  see :mod:`clinnlp.export.relatives`). A negated one ("no family
  history of colon cancer") is not exported: FamilyMemberHistory cannot say a relative did
  *not* have a condition, and a consumer reading ``condition.code`` would record that they
  did (the record keeps the mention). Family medications are not exported either (a
  MedicationStatement is about the patient), nor hypothetical findings ("return if fever
  develops", "albuterol prn wheezing"): an Observation says something was observed.
- medication: ``MedicationStatement`` with ``dosage`` (route as SNOMED CT, ``timing.repeat``
  from the normalised frequency, ``asNeededBoolean``, ``doseAndRate.doseQuantity`` in UCUM).
- finding: ``Observation`` with ``valueQuantity`` (``valueString`` when not numeric; blood
  pressure as systolic/diastolic components), ``interpretation``, and for findings without a
  value ``valueCodeableConcept`` Present/Absent (SNOMED CT), so a negated symptom reads "Absent".

The note's date, when the source gives one (OMOP NOTE ``note_datetime``/``note_date``, MIMIC
``CHARTTIME``/``CHARTDATE``, or a ``date`` field; see :data:`NOTE_DATE_FIELDS`), is the
DocumentReference's ``date`` (an instant: only when the value has a time zone) and
``context.period.start``, and when each mention was recorded: ``Condition.recordedDate``,
``MedicationStatement.dateAsserted``, ``FamilyMemberHistory.date``. A date-time without a
time zone is cut to its date, as FHIR requires a zone once a time is given. Observations get
no date: a value quoted in a note may have been measured days before it.

The subject is ``Patient/<id>`` when the source gives one (OMOP NOTE ``person_id``, MIMIC
``SUBJECT_ID``), else a logical reference by identifier to "the patient of this note". Ids
are UUIDs derived from the doc id and the mention, so re-running on the same note gives the
same Bundle.

Resources are built as plain dicts (the JSON the spec defines) rather than with
``fhir.resources`` models, which would make that package a run-time dependency and which, in
its pydantic-v2 releases (8.x), ship R5 and R4B but no R4. The tests validate every Bundle with
``fhir.resources.R4B`` instead: R4B changed only the medication-definition, evidence and
subscription resources, so it equals R4 for the six resource types written here.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from fractions import Fraction
from functools import lru_cache
from typing import Any

from clinnlp.export.codes import fhir_system
from clinnlp.export.relatives import relatives_of
from clinnlp.inputs import identity_key
from clinnlp.rule_files import read_rules_json
from clinnlp.schema import (
    Code,
    Diagnosis,
    Finding,
    Medication,
    Mention,
    Quantity,
    Record,
    duration_phrase,
)

FHIR_VERSION = "4.0.1"
RULES_FILE = "fhir.json"

DERIVATION_REFERENCE = "http://hl7.org/fhir/StructureDefinition/derivation-reference"
CLINNLP_EXTENSION = "https://clinnlp.dev/fhir/StructureDefinition/mention"
DOC_ID_SYSTEM = "urn:clinnlp:doc-id"
TEXT_SHA256_SYSTEM = "urn:clinnlp:text-sha256"
OMOP_NOTE_ID_SYSTEM = "urn:clinnlp:omop-note-id"
NOTE_SUBJECT_SYSTEM = "urn:clinnlp:patient-of-note"

SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"

_NAMESPACE = uuid.UUID("6f3c1d2e-8a4b-5c6d-9e0f-a1b2c3d4e5f6")
_CATEGORIES = {"lab": "laboratory", "vital": "vital-signs", "sign": "exam"}
_PRESENT = (SNOMED, "52101004", "Present")
_ABSENT = (SNOMED, "2667000", "Absent")
_BP = re.compile(r"^\s*(\d{2,3})\s*/\s*(\d{2,3})\s*$")
_COMPARATOR = re.compile(r"^\s*(<=|>=|<|>|≤|≥)")


@lru_cache(maxsize=1)
def _rules() -> dict[str, Any]:
    return read_rules_json(RULES_FILE)


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding: dict[str, Any] = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"coding": [_coding(system, code, display)]}


def codeable_concept(codes: list[Code], text: str) -> dict[str, Any]:
    """Every code of a mention as a Coding (best first), and the words of the note as text."""
    concept: dict[str, Any] = {"text": " ".join(text.split())}
    if codes:
        concept["coding"] = [_coding(fhir_system(c.system), c.code, c.display) for c in codes]
    return concept


def quantity(q: Quantity | None) -> dict[str, Any] | None:
    """A FHIR Quantity (UCUM-coded when the unit is known to UCUM), or None without a number."""
    if q is None or q.value is None:
        return None
    out: dict[str, Any] = {"value": q.value}
    match = _COMPARATOR.match(q.text)
    if q.comparator:
        out["comparator"] = q.comparator
    elif match:  # a record written before schema 1.2 has the bound in its text only
        out["comparator"] = {"≤": "<=", "≥": ">="}.get(match.group(1), match.group(1))
    if q.unit:
        out["unit"] = q.unit
        ucum = _rules()["ucum_units"].get(q.unit.lower())
        if ucum:
            out["system"] = UCUM
            out["code"] = ucum
    return out


_RANGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[-–]\s*(\d+(?:\.\d+)?)\s*$")


def _range(q: Quantity) -> dict[str, Any] | None:
    """A FHIR Range for a value written as one (``EF 55-60%``), or None."""
    match = _RANGE.match(q.text)
    if match is None:
        return None
    bounds = [quantity(Quantity(text=n, value=float(n), unit=q.unit)) for n in match.groups()]
    return {"low": bounds[0], "high": bounds[1]}


def _default_unit(finding: Finding) -> str | None:
    """The UCUM unit a vital written bare is in (``HR 112`` is per minute), by its LOINC code."""
    defaults = _rules().get("default_units", {})
    return next((defaults[c.code] for c in finding.codes if c.system == "LOINC" and c.code in defaults), None)


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(map(str, parts))))


_RATE_UNIT = re.compile(r"/(?:h|hr|hour|min|minute)$", re.IGNORECASE)

#: Metadata fields that name the patient: OMOP NOTE ``person_id``, MIMIC ``SUBJECT_ID``.
SUBJECT_FIELDS = ("person_id", "subject_id")

#: Metadata fields that date a note, most precise first (matched case-insensitively).
NOTE_DATE_FIELDS = ("note_datetime", "charttime", "note_date", "chartdate", "date")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)(Z|[+-]\d{2}:?\d{2})?)?")


def _field_values(metadata: Mapping[str, Any], names: Sequence[str]) -> Iterator[str]:
    """The non-blank values of the fields ``names`` (case-insensitive: ``SUBJECT_ID`` is
    ``subject_id``), in the order of ``names``."""
    fields = {str(k).lower(): v for k, v in metadata.items()}
    for name in names:
        value = fields.get(name)
        if value is not None and str(value).strip():
            yield str(value).strip()


def note_date(metadata: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(dateTime, instant)`` of the note from its metadata, each None when not available.

    ``dateTime`` is the date alone unless the value has a time zone; ``instant`` needs one."""
    for value in _field_values(metadata, NOTE_DATE_FIELDS):
        match = _DATE.fullmatch(value)
        if match is None:
            continue
        day, time, zone = match.groups()
        try:
            date.fromisoformat(day)
        except ValueError:
            continue  # 2024-02-30: not a date, and FHIR validators reject it
        if zone and zone != "Z" and ":" not in zone:
            zone = f"{zone[:3]}:{zone[3:]}"
        if time and zone:
            seconds = time if time.count(":") == 2 else f"{time}:00"
            stamp = f"{day}T{seconds}{zone}"
            return stamp, stamp
        return day, None
    return None, None


class _BundleBuilder:
    """Collects the entries of one record's Bundle; one instance per record."""

    def __init__(self, record: Record, text: str | None, metadata: Mapping[str, Any]) -> None:
        self.record = record
        self.text = text
        self.metadata = metadata
        self.key = identity_key(record.doc_id, record.text_sha256)
        self.doc_uuid = _uuid(self.key, "DocumentReference")
        self.doc_ref = {"reference": f"urn:uuid:{self.doc_uuid}", "type": "DocumentReference"}
        self.subject = self._subject()
        self.date, self.instant = note_date(metadata)
        self.entries: list[dict[str, Any]] = []

    def _subject(self) -> dict[str, Any]:
        person = next(_field_values(self.metadata, SUBJECT_FIELDS), None)
        if person is not None:
            return {"reference": f"Patient/{person}", "type": "Patient"}
        return {
            "type": "Patient",
            "identifier": {"system": NOTE_SUBJECT_SYSTEM, "value": self.record.doc_id},
            "display": f"the patient of note {self.record.doc_id}",
        }

    def add(self, resource: dict[str, Any]) -> None:
        self.entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})

    def document_reference(self) -> dict[str, Any]:
        identifiers = [
            {"system": DOC_ID_SYSTEM, "value": self.record.doc_id},
            {"system": TEXT_SHA256_SYSTEM, "value": self.record.text_sha256},
        ]
        note_id = self.metadata.get("note_id")
        if note_id is not None:
            identifiers.append({"system": OMOP_NOTE_ID_SYSTEM, "value": str(note_id)})
        attachment: dict[str, Any] = {"contentType": "text/plain; charset=utf-8", "title": self.record.doc_id}
        if self.text is not None:
            # FHIR R4 Attachment.hash is the base64 SHA-1 of the data; the note itself is not embedded.
            attachment["hash"] = base64.b64encode(hashlib.sha1(self.text.encode("utf-8")).digest()).decode("ascii")
            attachment["size"] = len(self.text.encode("utf-8"))
        resource: dict[str, Any] = {
            "resourceType": "DocumentReference",
            "id": self.doc_uuid,
            "identifier": identifiers,
            "status": "current",
            "content": [{"attachment": attachment}],
        }
        if self.instant is not None:
            resource["date"] = self.instant
        if self.date is not None:
            resource["context"] = {"period": {"start": self.date}}
        if self.subject.get("reference"):
            resource["subject"] = self.subject
        return resource

    def evidence_extensions(self, mention: Mention) -> list[dict[str, Any]]:
        """derivation-reference (where in which document) and the clinnlp mention details."""
        flags = mention.assertion.model_dump()
        details: list[dict[str, Any]] = [
            {"url": "confidence", "valueDecimal": round(mention.confidence, 4)},
            {"url": "component", "valueString": mention.source},
        ]
        if mention.section:
            details.append({"url": "section", "valueString": mention.section})
        details += [{"url": name, "valueBoolean": value} for name, value in flags.items() if value]
        return [
            {
                "url": DERIVATION_REFERENCE,
                "extension": [
                    {"url": "reference", "valueReference": self.doc_ref},
                    {"url": "offset", "valueInteger": mention.start},
                    {"url": "length", "valueInteger": mention.end - mention.start},
                ],
            },
            {"url": CLINNLP_EXTENSION, "extension": details},
        ]

    def _base(self, resource_type: str, kind: str, index: int, mention: Mention) -> dict[str, Any]:
        return {
            "resourceType": resource_type,
            "id": _uuid(self.key, kind, index, mention.start, mention.end),
            "extension": self.evidence_extensions(mention),
        }

    def condition(self, index: int, dx: Diagnosis) -> dict[str, Any]:
        a = dx.assertion
        resource = self._base("Condition", "diagnosis", index, dx)
        if a.resolved:  # it was there and is over: not refuted
            resource["clinicalStatus"] = _concept(CONDITION_CLINICAL, "resolved", "Resolved")
        elif not (a.negated or a.hypothetical or a.historical):
            resource["clinicalStatus"] = _concept(CONDITION_CLINICAL, "active", "Active")
        if a.negated and not a.resolved:
            status = ("refuted", "Refuted")
        elif a.uncertain:
            status = ("provisional", "Provisional")
        elif a.hypothetical:
            status = ("unconfirmed", "Unconfirmed")
        else:
            status = ("confirmed", "Confirmed")
        resource["verificationStatus"] = _concept(CONDITION_VERIFICATION, *status)
        resource["code"] = codeable_concept(dx.codes, dx.text)
        resource["subject"] = self.subject
        if self.date is not None:
            resource["recordedDate"] = self.date
        resource["evidence"] = [{"detail": [self.doc_ref]}]
        if a.historical and not a.resolved:
            resource["note"] = [{"text": "Mentioned as history; the note does not say whether it is still active."}]
        return resource

    def _relatives(self, mention: Mention) -> list[tuple[str, str]]:
        """The v3 RoleCodes of the relatives the mention is about (:mod:`clinnlp.export.relatives`)."""
        if self.text is not None:
            sentence = self.text[mention.sentence.start : mention.sentence.end].lower()
            at = mention.start - mention.sentence.start
            found = relatives_of(sentence, at, at + (mention.end - mention.start), _rules()["family_relations"])
            if found:
                return found
        return [("FAMMEMB", "family member")]

    def family_history(self, index: int, kind: str, mention: Mention) -> list[dict[str, Any]]:
        """One FamilyMemberHistory per relative ("mother and sister with breast cancer": two)."""
        resources = []
        for n, (code, display) in enumerate(self._relatives(mention)):
            resource = self._base("FamilyMemberHistory", kind, index, mention)
            if n:  # the first keeps the id it had when one relative was all a mention got
                resource["id"] = _uuid(self.key, kind, index, mention.start, mention.end, code)
            resource["status"] = "partial"
            resource["patient"] = self.subject
            if self.date is not None:
                resource["date"] = self.date
            resource["relationship"] = _concept(ROLE_CODE, code, display)
            condition: dict[str, Any] = {"code": codeable_concept(mention.codes, mention.text)}
            if mention.assertion.uncertain:
                condition["note"] = [{"text": "Uncertain in the note."}]
            resource["condition"] = [condition]
            resources.append(resource)
        return resources

    def medication_statement(self, index: int, med: Medication) -> dict[str, Any]:
        a = med.assertion
        resource = self._base("MedicationStatement", "medication", index, med)
        if a.negated or med.status == "allergic":
            status = "not-taken"
        elif med.status == "stopped":
            status = "stopped"
        elif med.status == "held":
            status = "on-hold"
        elif a.hypothetical:
            status = "intended"
        elif a.historical:
            status = "completed"
        elif a.uncertain:
            status = "unknown"
        else:
            status = "active"
        resource["status"] = status
        if med.status == "allergic":
            resource["statusReason"] = [{"text": "allergy or intolerance"}]
        resource["medicationCodeableConcept"] = codeable_concept(med.codes, med.text)
        resource["subject"] = self.subject
        if self.date is not None:
            resource["dateAsserted"] = self.date
        resource["derivedFrom"] = [self.doc_ref]
        dosage = self._dosage(med)
        if dosage:
            resource["dosage"] = [dosage]
        return resource

    def _dosage(self, med: Medication) -> dict[str, Any]:
        dosage: dict[str, Any] = {}
        # "10 mg tablet, take 1 tablet": the strength says how much drug, the dose how many units
        words = list(dict.fromkeys(q.text for q in (med.strength, med.dose) if q is not None))
        if med.form and not any(med.form.lower() in w.lower() for w in words):
            words.append(med.form)
        if med.route:
            words.append(med.route)
            code = _rules()["routes"].get(med.route)
            dosage["route"] = {"text": med.route} if code is None else {"coding": [_coding(SNOMED, *code)], "text": med.route}
        timing = self._timing(med)
        if med.frequency is not None:
            words.append(med.frequency.text)
            if med.frequency.as_needed is not None:
                dosage["asNeededBoolean"] = med.frequency.as_needed
        if med.duration is not None:
            words.append(duration_phrase(med.duration.text))
        if timing:
            dosage["timing"] = timing
        dose = quantity(med.dose)
        if dose is not None:
            # "fentanyl 25 mcg/hr": an amount per time is a rate, not a dose
            rate = _RATE_UNIT.search(med.dose.unit or "") if med.dose is not None else None
            dosage["doseAndRate"] = [{"rateQuantity" if rate else "doseQuantity": dose}]
        if words:
            dosage["text"] = " ".join(" ".join(words).split())
        return dosage

    def _timing(self, med: Medication) -> dict[str, Any]:
        timing: dict[str, Any] = {}
        repeat: dict[str, Any] = {}
        freq = med.frequency
        if freq is not None:
            timing["code"] = {"text": freq.text}
            if freq.per_day:
                repeat.update(frequency_period(freq.per_day))
        duration = med.duration
        if duration is not None and duration.value is not None and duration.unit:
            ucum = _rules()["duration_units"].get(duration.unit)
            if ucum:
                repeat["boundsDuration"] = {"value": duration.value, "unit": duration.unit, "system": UCUM, "code": ucum}
        if repeat:
            timing["repeat"] = repeat
        return timing

    def observation(self, index: int, finding: Finding) -> dict[str, Any]:
        a = finding.assertion
        resource = self._base("Observation", "finding", index, finding)
        resource["status"] = "preliminary" if (a.uncertain or a.hypothetical) else "final"
        category = _CATEGORIES.get(finding.kind)
        if category:
            resource["category"] = [_concept(OBSERVATION_CATEGORY, category)]
        resource["code"] = codeable_concept(finding.codes, finding.text)
        resource["subject"] = self.subject
        resource["derivedFrom"] = [self.doc_ref]
        value = finding.value
        bp = _BP.match(value.text) if value is not None and finding.kind == "vital" else None
        if a.negated or value is None:
            resource["valueCodeableConcept"] = _concept(*(_ABSENT if a.negated else _PRESENT))
        elif bp is not None:
            resource["component"] = [
                {"code": _concept(LOINC, "8480-6", "Systolic blood pressure"),
                 "valueQuantity": {"value": int(bp.group(1)), "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
                {"code": _concept(LOINC, "8462-4", "Diastolic blood pressure"),
                 "valueQuantity": {"value": int(bp.group(2)), "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
            ]
        else:
            q = quantity(value)
            default = _default_unit(finding) if q is not None and "unit" not in q else None
            if q is not None and default is not None:
                q.update({"unit": default, "system": UCUM, "code": default})
            value_range = _range(value) if q is None else None
            if q is not None:
                resource["valueQuantity"] = q
            elif value_range is not None:
                resource["valueRange"] = value_range
            else:
                resource["valueString"] = value.text
        if finding.interpretation:
            code = _rules()["interpretations"].get(finding.interpretation)
            if code is not None:
                resource["interpretation"] = [{"coding": [_coding(INTERPRETATION, *code)], "text": finding.interpretation}]
            else:
                resource["interpretation"] = [{"text": finding.interpretation}]
        return resource


def frequency_period(per_day: float) -> dict[str, Any]:
    """``Timing.repeat`` frequency/period for a normalised per-day rate (bid -> 2 per 1 d, weekly -> 1 per 1 wk)."""
    if per_day >= 1:
        ratio = Fraction(per_day).limit_denominator(24)
        return {"frequency": ratio.numerator, "period": ratio.denominator, "periodUnit": "d"}
    days = Fraction(1 / per_day).limit_denominator(24)
    if days.denominator == 1 and days.numerator % 7 == 0:
        return {"frequency": 1, "period": days.numerator // 7, "periodUnit": "wk"}
    return {"frequency": days.denominator, "period": days.numerator, "periodUnit": "d"}


def record_to_bundle(record: Record, *, text: str | None = None, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The FHIR R4 Bundle (a JSON-ready dict) of one record.

    ``text`` (the note) adds the attachment hash and lets family history name the relative;
    ``metadata`` may give ``person_id`` (the subject) and ``note_id`` (an OMOP NOTE id).
    """
    builder = _BundleBuilder(record, text, metadata or {})
    builder.add(builder.document_reference())
    for i, dx in enumerate(record.diagnoses):
        if dx.assertion.family and dx.assertion.negated:
            continue  # see the module docstring: no way to say "the relative did not have it"
        if dx.assertion.family:
            for resource in builder.family_history(i, "diagnosis", dx):
                builder.add(resource)
        else:
            builder.add(builder.condition(i, dx))
    for i, med in enumerate(record.medications):
        if not med.assertion.family:
            builder.add(builder.medication_statement(i, med))
    for i, finding in enumerate(record.findings):
        if finding.assertion.family and finding.assertion.negated:
            continue
        if finding.assertion.hypothetical and not finding.assertion.family:
            continue  # "return if fever develops", "prn wheezing": nothing was observed
        if finding.assertion.family:
            for resource in builder.family_history(i, "finding", finding):
                builder.add(resource)
        else:
            builder.add(builder.observation(i, finding))
    return {
        "resourceType": "Bundle",
        "id": _uuid(builder.key, "Bundle"),
        "meta": {"tag": [{"system": "urn:clinnlp:version", "code": record.provenance.clinnlp_version}]},
        "identifier": {"system": DOC_ID_SYSTEM, "value": record.doc_id},
        "type": "collection",
        "entry": builder.entries,
    }
