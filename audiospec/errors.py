"""The exception hierarchy of :mod:`audiospec`.

Every error that audiospec raises on purpose derives from :class:`AudiospecError`, so a caller can
catch the library's errors and nothing else. Errors caused by a bad argument are also
:class:`ValueError`, so code written for the standard library keeps working.
"""

from __future__ import annotations

__all__ = ["AudiospecError", "ParameterError", "AudioError", "CacheError", "DatasetError"]


class AudiospecError(Exception):
    """Base class of every error audiospec raises on purpose."""


class ParameterError(AudiospecError, ValueError):
    """An argument has a value outside its documented range.

    The message names the argument, the value it had and the rule it broke.
    """


class AudioError(AudiospecError, ValueError):
    """An audio file or waveform cannot be used: unreadable, empty, silent or non-finite."""


class CacheError(AudiospecError):
    """A spectrogram cache is missing, incomplete, of an unknown format version or inconsistent."""


class DatasetError(AudiospecError, ValueError):
    """A dataset folder is malformed: missing metadata, an unknown label name, or nothing selected."""
