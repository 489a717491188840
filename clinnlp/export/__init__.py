"""EHR outputs: FHIR R4 Bundles and OMOP CDM v5.4 NOTE_NLP rows, and the OMOP NOTE input.

- :mod:`clinnlp.export.fhir`: one FHIR R4 Bundle per record (pure dicts, no FHIR library at run time).
- :mod:`clinnlp.export.omop`: NOTE_NLP rows for a record, and the NOTE_NLP/NOTE table definitions.
- :mod:`clinnlp.export.fhir_sink`, :mod:`clinnlp.export.database_sink`: ``clinnlp batch`` sinks.
- :mod:`clinnlp.export.omop_source`: ``clinnlp batch --input-format omop-note``.

Everything here is imported lazily by the CLI, so ``import clinnlp`` stays light.
"""
