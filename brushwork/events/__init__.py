"""The event log: event types, codec, store interface, SQL store, writer and notifier."""

from .codec import decode_event, encode_event, register_upcaster
from .notifier import Broadcaster, Subscription
from .store import AppendRequest, EventStore, InlineProjection, RecordedEvent, append
from .types import *  # noqa: F403
from .types import AnyEvent, Event, OutputItem
from .writer import EventWriter

__all__ = [
    "AnyEvent",
    "AppendRequest",
    "Broadcaster",
    "Event",
    "EventStore",
    "EventWriter",
    "InlineProjection",
    "OutputItem",
    "RecordedEvent",
    "Subscription",
    "append",
    "decode_event",
    "encode_event",
    "register_upcaster",
]
