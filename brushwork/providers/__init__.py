"""External AI providers as nodes."""

from __future__ import annotations


def provider_node_classes() -> list[type]:
    return []
