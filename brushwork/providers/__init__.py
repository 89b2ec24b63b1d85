"""External AI providers as nodes.

The shared layer (``hub``, ``client``, ``call``, ``secrets``, ``redact``)
and one module per provider. Importing this package imports neither torch
nor aiohttp and opens no session; ``provider_node_classes`` imports the
provider modules on demand.
"""

from __future__ import annotations

import importlib

# One module per provider; each defines SPEC and NODE_CLASSES.
PROVIDER_MODULES = (
    "openai",
    "stability",
    "bfl",
    "luma",
    "runway",
    "elevenlabs",
    "anthropic", "gemini", "veo", "ideogram", "recraft", "kling", "minimax", "pixverse",
    "vidu", "bytedance", "wan", "tripo", "rodin", "meshy", "replicate", "fal",
    "together", "mistral", "xai", "deepseek", "huggingface", "leonardo", "krea", "topaz",
)


def provider_node_classes() -> list[type]:
    """Return every provider node class, in module order."""
    classes: list[type] = []
    for name in PROVIDER_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        classes.extend(module.NODE_CLASSES)
    return classes
