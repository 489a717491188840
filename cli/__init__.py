"""The ``clinnlp`` command line (Typer): one module per command, each a thin wrapper."""
