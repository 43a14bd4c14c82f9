"""What crosses the Celery broker: a page's reading, an opened file, an error, as plain JSON.

Pickle would carry them with no code, but whoever can write to Redis could then run code in
every worker and in the service (and Celery refuses to run a pickle-accepting worker as root).
JSON carries only data: our own records are written as ``{"$type": "module:Class", field: ...}``
and read back only if the class is a dataclass, an enum or an error of ``pipeline``'s own, built
from its fields (none of them does I/O when built: STYLE §2).
"""

from __future__ import annotations

import dataclasses
import enum
import numbers
import sys
from pathlib import Path, PurePath
from typing import Any

from pipeline.errors import PipelineError, ReasonCode

__all__ = ["WireError", "decode", "encode"]

TYPE = "$type"


class WireError(ValueError):
    """What came over the wire is not something we sent."""


def _name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def encode(value: Any) -> Any:
    """A value as JSON-ready data (raises TypeError for a type it cannot carry)."""
    if isinstance(value, enum.Enum):  # before str: a StrEnum is a str too
        return {TYPE: _name(type(value)), "value": value.value}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, PipelineError):
        return {TYPE: _name(type(value)), "message": value.message, "reason": str(value.reason), "stage": value.stage}
    if isinstance(value, PurePath):
        return {TYPE: "path", "value": str(value)}
    if isinstance(value, (tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return {TYPE: type(value).__name__, "items": [encode(v) for v in items]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        if TYPE in value or not all(isinstance(k, str) for k in value):
            raise TypeError(f"cannot send a dict with keys {list(value)[:5]!r}")
        return {k: encode(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {TYPE: _name(type(value))}
        for f in dataclasses.fields(value):
            if f.name == "image":  # a page image stays in the reading process (Page drops it once read)
                continue
            out[f.name] = encode(getattr(value, f.name))
        return out
    raise TypeError(f"cannot send a {type(value).__name__} to the service")


_BUILTIN = {"tuple": tuple, "set": set, "frozenset": frozenset}


def decode(data: Any) -> Any:
    """The value ``encode`` made (raises WireError for anything else)."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if TYPE not in data:
        return {k: decode(v) for k, v in data.items()}
    tag = data[TYPE]
    if tag == "path":
        return Path(data["value"])
    if tag in _BUILTIN:
        return _BUILTIN[tag](decode(v) for v in data["items"])
    cls = _class(tag)
    if issubclass(cls, enum.Enum):
        return cls(data["value"])
    if issubclass(cls, PipelineError):
        return cls(data["message"], reason=ReasonCode(data["reason"]), stage=data.get("stage", ""))
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    return cls(**{k: decode(v) for k, v in data.items() if k in names})


def _class(tag: Any) -> type:
    """One of pipeline's own record, enum or error classes, by its "module:Class" name.

    Only from modules this process has imported already: a name over the wire imports nothing.
    """
    module, _, qualname = str(tag).partition(":")
    if not (module == "pipeline" or module.startswith("pipeline.")) or not qualname.isidentifier():
        raise WireError(f"not one of signoff's own types: {tag!r}")
    cls = getattr(sys.modules.get(module), qualname, None)
    if cls is None:
        raise WireError(f"no such type here: {tag!r} (a worker of another signoff version?)")
    if not isinstance(cls, type) or not (
        dataclasses.is_dataclass(cls) or issubclass(cls, (enum.Enum, PipelineError))
    ):
        raise WireError(f"not a record type: {tag!r}")
    return cls
