"""EmptyLatentImage, LatentUpscale, LatentUpscaleBy, VAEDecode and VAEEncode.

torch is imported only when a node runs.
"""

from __future__ import annotations

from typing import Any

from ...engine.context import NodeContext
from ...engine.node import Input, Node, Output

MAX_RESOLUTION = 16384
UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic"]
CROP_METHODS = ["disabled", "center"]
# ComfyUI's smallest side for a resized latent, in pixels.
_MIN_UPSCALE_SIDE = 64


class EmptyLatentImage(Node):
    class_type = "EmptyLatentImage"
    display_name = "Empty Latent Image"
    category = "latent"
    description = "Creates a batch of empty (all-zero) latents for text-to-image sampling."
    inputs = (
        Input(
            "width",
            "INT",
            default=512,
            min=16,
            max=MAX_RESOLUTION,
            step=8,
            tooltip="Image width in pixels.",
        ),
        Input(
            "height",
            "INT",
            default=512,
            min=16,
            max=MAX_RESOLUTION,
            step=8,
            tooltip="Image height in pixels.",
        ),
        Input(
            "batch_size", "INT", default=1, min=1, max=4096, tooltip="How many latents to create."
        ),
    )
    outputs = (Output("LATENT", tooltip="Zeros of one eighth of the image size."),)
    lane = "cpu"

    def execute(
        self, ctx: NodeContext, width: int, height: int, batch_size: int
    ) -> tuple[Any, ...]:
        from .latents import empty_latent

        return ({"samples": empty_latent(width, height, batch_size)},)


class LatentUpscale(Node):
    class_type = "LatentUpscale"
    display_name = "Upscale Latent"
    category = "latent"
    description = "Resizes latents to a size in pixels. A side of 0 keeps the aspect ratio."
    inputs = (
        Input("samples", "LATENT"),
        Input(
            "upscale_method", "COMBO", choices=UPSCALE_METHODS, tooltip="The interpolation mode."
        ),
        Input(
            "width",
            "INT",
            default=512,
            min=0,
            max=MAX_RESOLUTION,
            step=8,
            tooltip="Target width in pixels.",
        ),
        Input(
            "height",
            "INT",
            default=512,
            min=0,
            max=MAX_RESOLUTION,
            step=8,
            tooltip="Target height in pixels.",
        ),
        Input(
            "crop",
            "COMBO",
            choices=CROP_METHODS,
            tooltip="Whether to crop to the target aspect ratio first.",
        ),
    )
    outputs = (Output("LATENT"),)
    lane = "cpu"

    def execute(
        self,
        ctx: NodeContext,
        samples: dict[str, Any],
        upscale_method: str,
        width: int,
        height: int,
        crop: str,
    ) -> tuple[Any, ...]:
        from .latents import resize_latent

        if width == 0 and height == 0:
            return ({**samples},)
        tensor = samples["samples"]
        old_height, old_width = tensor.shape[-2] * 8, tensor.shape[-1] * 8
        if width == 0:
            height = max(_MIN_UPSCALE_SIDE, height)
            width = max(_MIN_UPSCALE_SIDE, round(old_width * height / old_height))
        elif height == 0:
            width = max(_MIN_UPSCALE_SIDE, width)
            height = max(_MIN_UPSCALE_SIDE, round(old_height * width / old_width))
        else:
            width = max(_MIN_UPSCALE_SIDE, width)
            height = max(_MIN_UPSCALE_SIDE, height)
        resized = resize_latent(tensor, width // 8, height // 8, upscale_method, crop)
        return ({**samples, "samples": resized},)


class LatentUpscaleBy(Node):
    class_type = "LatentUpscaleBy"
    display_name = "Upscale Latent By"
    category = "latent"
    description = "Resizes latents by a factor."
    inputs = (
        Input("samples", "LATENT"),
        Input(
            "upscale_method", "COMBO", choices=UPSCALE_METHODS, tooltip="The interpolation mode."
        ),
        Input(
            "scale_by",
            "FLOAT",
            default=1.5,
            min=0.01,
            max=8.0,
            step=0.01,
            tooltip="The factor for both sides.",
        ),
    )
    outputs = (Output("LATENT"),)
    lane = "cpu"

    def execute(
        self, ctx: NodeContext, samples: dict[str, Any], upscale_method: str, scale_by: float
    ) -> tuple[Any, ...]:
        from .latents import resize_latent

        tensor = samples["samples"]
        width = max(1, round(tensor.shape[-1] * scale_by))
        height = max(1, round(tensor.shape[-2] * scale_by))
        return (
            {
                **samples,
                "samples": resize_latent(tensor, width, height, upscale_method, "disabled"),
            },
        )


class VAEDecode(Node):
    class_type = "VAEDecode"
    display_name = "VAE Decode"
    category = "latent"
    description = "Decodes latents into images."
    inputs = (
        Input("samples", "LATENT", tooltip="The latents to decode."),
        Input("vae", "VAE", tooltip="The VAE to decode with."),
    )
    outputs = (Output("IMAGE", tooltip="Images as [batch, height, width, 3] floats in [0, 1]."),)
    lane = "device"

    def execute(self, ctx: NodeContext, samples: dict[str, Any], vae: Any) -> tuple[Any, ...]:
        from .latents import decode

        return (decode(vae, samples["samples"], ctx.check_interrupted),)


class VAEEncode(Node):
    class_type = "VAEEncode"
    display_name = "VAE Encode"
    category = "latent"
    description = "Encodes images into latents, for image-to-image sampling with denoise below 1."
    inputs = (
        Input(
            "pixels",
            "IMAGE",
            tooltip="Images as [batch, height, width, channels] floats in [0, 1].",
        ),
        Input("vae", "VAE", tooltip="The VAE to encode with."),
    )
    outputs = (Output("LATENT"),)
    lane = "device"

    def execute(self, ctx: NodeContext, pixels: Any, vae: Any) -> tuple[Any, ...]:
        from .latents import encode

        return ({"samples": encode(vae, pixels, ctx.check_interrupted)},)
