"""Output caching with ComfyUI's semantics.

A node's cache key hashes its class, its fingerprint (IS_CHANGED) and its
inputs, where a linked input contributes the key of the linked node and
the output index. Identical sub-graphs therefore share entries whatever
their node ids, and a changed constant upstream changes every key below it.
A node that is not cacheable, and every node that depends on one, gets no
key and always runs.

Policies: "classic" keeps only the entries of the most recent prompt (as
ComfyUI's default cache), "lru" keeps up to ``max_entries`` entries across
prompts, "none" keeps nothing.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import msgspec

from ..events.types import OutputItem
from .node import Node
from .registry import NodeRegistry
from .validation import is_link

CACHE_POLICIES = ("classic", "lru", "none")
_encoder = msgspec.json.Encoder(order="deterministic")


@dataclass
class CacheEntry:
    values: list[list[Any]]
    items: list[list[OutputItem]]
    ui: dict[str, Any] | None


def compute_cache_keys(
    prompt: dict[str, Any], registry: NodeRegistry, fingerprints: dict[str, Any]
) -> dict[str, str | None]:
    """Return a key per node (None where the node must always run)."""
    keys: dict[str, str | None] = {}

    def key_of(node_id: str) -> str | None:
        if node_id in keys:
            return keys[node_id]
        node = prompt[node_id]
        cls: type[Node] = registry.require(node["class_type"])
        if not cls.cacheable:
            keys[node_id] = None
            return None
        parts: list[Any] = [cls.class_type, fingerprints.get(node_id)]
        for name in sorted(node["inputs"]):
            value = node["inputs"][name]
            if is_link(value):
                source_key = key_of(value[0]) if value[0] in prompt else None
                if source_key is None:
                    keys[node_id] = None
                    return None
                parts.append((name, "link", source_key, value[1]))
            else:
                parts.append((name, value))
        try:
            encoded = _encoder.encode(parts)
        except (TypeError, msgspec.EncodeError):
            keys[node_id] = None
            return None
        digest = hashlib.sha256(encoded).hexdigest()
        keys[node_id] = digest
        return digest

    for node_id in prompt:
        key_of(node_id)
    return keys


class OutputCache:
    def __init__(self, policy: str = "classic", max_entries: int = 256) -> None:
        if policy not in CACHE_POLICIES:
            raise ValueError(
                f"invalid cache policy {policy!r}; choose one of {', '.join(CACHE_POLICIES)}"
            )
        self.policy = policy
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()

    def get(self, key: str | None) -> CacheEntry | None:
        if key is None or self.policy == "none":
            return None
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: str | None, entry: CacheEntry) -> None:
        if key is None or self.policy == "none":
            return
        self._entries[key] = entry
        self._entries.move_to_end(key)
        if self.policy == "lru":
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def begin_prompt(self, keys: set[str], keep: set[str] | None = None) -> None:
        """Classic policy: drop entries that neither this prompt nor a running one uses."""
        if self.policy != "classic":
            return
        retained = keys | (keep or set())
        for key in [k for k in self._entries if k not in retained]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
