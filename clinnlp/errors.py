"""The one small error hierarchy of clinnlp.

Every error a user can cause derives from :class:`ClinnlpError`, so the CLI can turn
it into a one-line message and a non-zero exit code instead of a traceback. The
concrete classes also subclass ``ValueError`` or ``RuntimeError`` so callers that
already catch those keep working.
"""

from __future__ import annotations


class ClinnlpError(Exception):
    """Base class of every error clinnlp raises on purpose."""


class InputError(ClinnlpError, ValueError):
    """An input note cannot be read as clinical text (missing, empty, binary, not UTF-8...)."""


class ConfigError(ClinnlpError, ValueError):
    """An option, setting or argument has a value clinnlp does not allow."""


class ResourceError(ClinnlpError, RuntimeError):
    """A packaged resource (lexicon, rules, model weights) is missing or corrupt."""
