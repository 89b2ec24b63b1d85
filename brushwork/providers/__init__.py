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
    # Group A
    "anthropic", "gemini", "veo", "ideogram", "recraft", "kling", "minimax", "pixverse",
    # Group B
    "vidu", "bytedance", "wan", "tripo", "rodin", "meshy", "replicate", "fal",
    # Group C
    "together", "mistral", "xai", "deepseek", "huggingface", "leonardo", "krea", "topaz",
)


def provider_node_classes() -> list[type]:
    """Return every provider node class, in module order."""
    classes: list[type] = []
    for name in PROVIDER_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as error:
            # TODO: make this strict once every listed provider module is written.
            if error.name == f"{__name__}.{name}":
                continue
            raise
        classes.extend(module.NODE_CLASSES)
    return classes
