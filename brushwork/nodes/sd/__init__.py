"""Stable Diffusion nodes on diffusers: checkpoints, LoRA, text encoding, sampling, VAE and latents.

Importing this package does not import torch or diffusers; the node modules
import them inside ``execute``. ``free_models`` is what POST /free calls.
"""

from __future__ import annotations

import sys

from .node_latent import EmptyLatentImage, LatentUpscale, LatentUpscaleBy, VAEDecode, VAEEncode
from .node_loaders import CheckpointLoaderSimple, LoraLoader
from .node_sampling import CLIPTextEncode, KSampler, KSamplerAdvanced

NODE_CLASSES: list = [
    CheckpointLoaderSimple,
    LoraLoader,
    CLIPTextEncode,
    KSampler,
    KSamplerAdvanced,
    EmptyLatentImage,
    LatentUpscale,
    LatentUpscaleBy,
    VAEDecode,
    VAEEncode,
]


def free_models() -> int:
    """Unload every loaded model and cached LoRA, and return how many modules were unloaded.

    Models that a running node is using stay loaded. Nothing is imported when
    no model was ever loaded.
    """
    if "brushwork.nodes.sd.memory" not in sys.modules:
        return 0
    from .lora import clear_lora_cache
    from .memory import free_models as unload

    clear_lora_cache()
    return unload()


__all__ = [
    "NODE_CLASSES",
    "CLIPTextEncode",
    "CheckpointLoaderSimple",
    "EmptyLatentImage",
    "KSampler",
    "KSamplerAdvanced",
    "LatentUpscale",
    "LatentUpscaleBy",
    "LoraLoader",
    "VAEDecode",
    "VAEEncode",
    "free_models",
]
