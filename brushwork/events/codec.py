"""Encoding of events to stored bytes, and upcasting of older schema versions.

Payloads are stored as JSON (readable with any SQL client). An event stored
under an older schema version is decoded to a dict, passed through the
registered upcasters one version at a time, then converted to the current
Struct. Stored bytes are never rewritten.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from .types import EVENT_TYPES, Event

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_encoder = msgspec.json.Encoder()
_decoders: dict[str, msgspec.json.Decoder[Any]] = {
    name: msgspec.json.Decoder(cls) for name, cls in EVENT_TYPES.items()
}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


class UnknownEventTypeError(Exception):
    def __init__(self, type_name: str) -> None:
        super().__init__(f"unknown event type {type_name!r}; is this log from a newer brushwork?")


def register_upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function that turns a ``from_version`` payload into ``from_version + 1``."""

    def decorate(func: Upcaster) -> Upcaster:
        _UPCASTERS[(type_name, from_version)] = func
        return func

    return decorate


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def event_type_name(event: Event) -> str:
    return type(event).__name__


def decode_event(type_name: str, schema_version: int, payload: bytes | str) -> Event:
    cls = EVENT_TYPES.get(type_name)
    if cls is None:
        raise UnknownEventTypeError(type_name)
    if schema_version == cls.schema_version:
        return _decoders[type_name].decode(payload)
    data = msgspec.json.decode(payload)
    for version in range(schema_version, cls.schema_version):
        upcast = _UPCASTERS.get((type_name, version))
        if upcast is None:
            raise ValueError(
                f"no upcaster for {type_name} from schema version {version} to {version + 1}"
            )
        data = upcast(data)
    data["type"] = type_name
    return msgspec.convert(data, cls)


_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


@register_upcaster("NodeCompleted", 1)
def _node_completed_v1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 stored one artifact hash (or inline scalar) per output slot, without types.

    A string is an artifact hash only if it is 64 lowercase hex digits; any
    other string was an inline STRING value.
    """
    data["outputs"] = [
        [["artifact", "*", ref, None]] if isinstance(ref, str) and _SHA256_HEX.match(ref)
        else [["inline", "*", None, ref]]
        for ref in data.pop("output_hashes", [])
    ]
    return data
