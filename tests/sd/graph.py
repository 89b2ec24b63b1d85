"""Run the nodes of ComfyUI's default text-to-image graph by calling them directly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from brushwork.engine.context import NodeContext
from brushwork.nodes.sd import (
    CheckpointLoaderSimple,
    CLIPTextEncode,
    EmptyLatentImage,
    KSampler,
    VAEDecode,
)

POSITIVE = "beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"
NEGATIVE = "text, watermark"


@dataclass
class Loaded:
    model: Any
    clip: Any
    vae: Any
    positive: Any
    negative: Any


def load(ctx: NodeContext, ckpt_name: str) -> Loaded:
    model, clip, vae = CheckpointLoaderSimple().execute(ctx, ckpt_name=ckpt_name)
    (positive,) = CLIPTextEncode().execute(ctx, text=POSITIVE, clip=clip)
    (negative,) = CLIPTextEncode().execute(ctx, text=NEGATIVE, clip=clip)
    return Loaded(model, clip, vae, positive, negative)


def ksampler(
    ctx: NodeContext, loaded: Loaded, latent: dict[str, Any], **overrides: Any
) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "model": loaded.model,
        "seed": 8566257,
        "steps": 2,
        "cfg": 8.0,
        "sampler_name": "euler",
        "scheduler": "normal",
        "positive": loaded.positive,
        "negative": loaded.negative,
        "latent_image": latent,
        "denoise": 1.0,
    }
    inputs.update(overrides)
    (result,) = KSampler().execute(ctx, **inputs)
    return result


def empty_latent(ctx: NodeContext, size: int = 64, batch_size: int = 1) -> dict[str, Any]:
    (latent,) = EmptyLatentImage().execute(ctx, width=size, height=size, batch_size=batch_size)
    return latent


def decode(ctx: NodeContext, loaded: Loaded, latent: dict[str, Any]) -> torch.Tensor:
    (image,) = VAEDecode().execute(ctx, samples=latent, vae=loaded.vae)
    return image


def default_graph(ctx: NodeContext, ckpt_name: str, **overrides: Any) -> torch.Tensor:
    loaded = load(ctx, ckpt_name)
    return decode(ctx, loaded, ksampler(ctx, loaded, empty_latent(ctx), **overrides))
