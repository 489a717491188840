"""spaCy pipeline components of clinnlp, each registered as a ``clinnlp_*`` factory."""
