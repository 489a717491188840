"""The structured record clinnlp produces for one note (pydantic v2).

The JSON Schema of :class:`Record` is what ``clinnlp schema`` prints; downstream
tools validate against it, so changes here are changes to a public contract.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = "1.2"

FindingKind = Literal["symptom", "sign", "lab", "vital", "other"]
MedicationStatus = Literal[
    "started", "continued", "increased", "decreased", "held", "stopped", "allergic"
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Span(_Model):
    """A character range ``[start, end)`` of the input text."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> "Span":
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) must not be before start ({self.start})")
        return self


class Section(Span):
    """A note section such as ``past_medical_history``, from its heading to the next one."""

    name: str


class Code(_Model):
    """A concept in a terminology (ICD-10-CM, DrugBank, RxNorm, MeSH, HPO, LOINC, DOID...)."""

    system: str
    code: str
    display: str | None = None
    score: float = Field(default=1.0, ge=0.0, le=1.0)


class Assertion(_Model):
    """Clinical context of a mention; all False means asserted, present, current, about the patient."""

    negated: bool = False
    uncertain: bool = False
    historical: bool = False
    hypothetical: bool = False
    family: bool = False
    resolved: bool = Field(
        default=False,
        description="was present and is over (resolved, cleared...); such a mention is negated and historical too",
    )


class Quantity(_Model):
    """A value as written (``text``) and, when it can be parsed, as number and unit.

    ``comparator`` keeps a bound (``troponin < 0.01``: value 0.01, comparator ``<``), so a
    consumer reading numbers does not take a limit for a measurement."""

    text: str
    value: float | None = None
    unit: str | None = None
    comparator: Literal["<", "<=", ">", ">="] | None = None


def duration_phrase(text: str) -> str:
    """A duration as a reader sees it: ``for 7 days``, but ``until follow-up`` and ``x2 weeks`` as written."""
    return text if text.lower().startswith(("until", "for ", "x")) else f"for {text}"


class Frequency(_Model):
    """How often a medication is taken; ``per_day`` is normalised (``bid`` = 2)."""

    text: str
    per_day: float | None = None
    as_needed: bool | None = None


class Mention(_Model):
    """One extracted mention with its evidence and context."""

    text: str
    start: int = Field(ge=0, description="character offset of the first character in the input")
    end: int = Field(ge=0, description="character offset just past the last character")
    sentence: Span
    section: str | None = None
    assertion: Assertion = Field(default_factory=Assertion)
    confidence: float = Field(ge=0.0, le=1.0)
    source: str = Field(description="the pipeline component that found the mention")
    codes: list[Code] = Field(default_factory=list)


class Diagnosis(Mention):
    """A disease or disorder."""


class Medication(Mention):
    """A drug, with the attributes the note gives for it."""

    dose: Quantity | None = None
    strength: Quantity | None = None
    route: str | None = None
    frequency: Frequency | None = None
    duration: Quantity | None = None
    form: str | None = None
    status: MedicationStatus | None = None


class Finding(Mention):
    """A symptom, sign, lab or vital, with its value when the note gives one."""

    kind: FindingKind = "other"
    value: Quantity | None = None
    interpretation: str | None = None


class Provenance(_Model):
    """What produced the record, so results can be reproduced and audited."""

    clinnlp_version: str
    schema_version: str = SCHEMA_VERSION
    components: list[str]
    model_id: str | None = None
    weights_sha256: str | None = None


class Record(_Model):
    """Everything clinnlp extracted from one note."""

    doc_id: str
    text_sha256: str
    sections: list[Section] = Field(default_factory=list)
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    medications: list[Medication] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    provenance: Provenance


def record_json_schema() -> dict[str, object]:
    """The JSON Schema (draft 2020-12) that every serialised :class:`Record` validates against."""
    schema = Record.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://clinnlp.dev/schema/record-{SCHEMA_VERSION}.json"
    return schema
