"""Errors, their reason codes and the exit codes a cron job acts on.

::

    PipelineError
    ├── DocumentError      one file: quarantine it, keep going with the batch
    │   ├── BadInput       not a PDF/TIFF/PNG/JPEG, encrypted, zero bytes, no pages
    │   └── Unreadable     no page can be rasterised; nothing on it to read
    └── SetupError         stop the run
        ├── ToolMissing        tesseract, poppler or zbar not installed (or the celery extra)
        │   └── BrokerUnreachable  the celery executor's broker (Redis) does not answer
        ├── ArchiveUnwritable  the archive or index cannot be written
        ├── ConfigError        the configuration is invalid
        └── ReaderCrashed      a reading process of `signoff process` died (killed, out of memory)

An incomplete sheet is not an error: it is filed, and its field statuses say what is missing.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = [
    "ArchiveUnwritable",
    "BadInput",
    "BrokerUnreachable",
    "ConfigError",
    "DocumentError",
    "ExitCode",
    "PipelineError",
    "ReaderCrashed",
    "ReasonCode",
    "SetupError",
    "ToolMissing",
    "Unreadable",
]


class ExitCode(IntEnum):
    """Process exit codes (README documents them)."""

    OK = 0
    ATTENTION = 1  # finished, but files were quarantined or sheets need chasing
    USAGE = 2
    TOOL_MISSING = 3
    UNWRITABLE = 4
    INTERRUPTED = 130


class ReasonCode(StrEnum):
    """Stable reason codes written beside quarantined files."""

    ZERO_BYTES = "bad_input.zero_bytes"
    UNSUPPORTED = "bad_input.unsupported_type"
    ENCRYPTED_PDF = "bad_input.encrypted_pdf"
    CORRUPT_PDF = "bad_input.corrupt_pdf"
    NO_PAGES = "bad_input.no_pages"
    CORRUPT_IMAGE = "bad_input.corrupt_image"
    TOO_LARGE = "bad_input.too_many_pixels"
    TOO_SMALL = "bad_input.too_small"
    NOTHING_TO_READ = "unreadable.no_content"
    RASTERISE_FAILED = "unreadable.rasterise_failed"
    SYMLINK = "bad_input.symlink"  # a symbolic link in the inbox: never followed out of it
    READER_FAILED = "unreadable.reader_failed"  # the reader crashed on this file, twice
    TOOL_MISSING = "setup.tool_missing"
    ARCHIVE_UNWRITABLE = "setup.archive_unwritable"
    CONFIG = "setup.config"


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""

    exit_code: ExitCode = ExitCode.ATTENTION
    reason: ReasonCode = ReasonCode.NOTHING_TO_READ

    def __init__(self, message: str, *, reason: ReasonCode | None = None, stage: str = "") -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        self.stage = stage

    @property
    def message(self) -> str:
        return str(self)


class DocumentError(PipelineError):
    """Something is wrong with one file: quarantine it and go on with the batch."""


class BadInput(DocumentError):
    """The file is not something we can read (type, encryption, size)."""

    reason = ReasonCode.UNSUPPORTED


class Unreadable(DocumentError):
    """The file opened, but nothing on it could be read."""

    reason = ReasonCode.NOTHING_TO_READ


class SetupError(PipelineError):
    """The run cannot go on: nothing more should be attempted."""


class ToolMissing(SetupError):
    exit_code = ExitCode.TOOL_MISSING
    reason = ReasonCode.TOOL_MISSING


class BrokerUnreachable(ToolMissing):
    """The celery executor's broker does not answer: like a missing tool, nothing can be read (exit code 3)."""


class ArchiveUnwritable(SetupError):
    exit_code = ExitCode.UNWRITABLE
    reason = ReasonCode.ARCHIVE_UNWRITABLE


class ConfigError(SetupError):
    exit_code = ExitCode.USAGE
    reason = ReasonCode.CONFIG


class ReaderCrashed(SetupError):
    """A page reader died (killed, out of memory): which file did it cannot be told, so none is quarantined."""

    reason = ReasonCode.READER_FAILED
