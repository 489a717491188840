"""Batch corpus extraction: sources that stream documents in, sinks that write records out.

The contract between them lives in :mod:`clinnlp.batch.protocols`; the dispatch from a
command-line ``INPUT``/``--out`` to a concrete source or sink in :mod:`clinnlp.batch.registry`.
"""
