"""Mask nodes with ComfyUI's class types and inputs (comfy_extras/nodes_mask.py).

A MASK is a float tensor [batch, height, width] with values in 0..1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..engine.node import Input, Node, Output
from .image import MAX_RESOLUTION

if TYPE_CHECKING:
    import torch

    from ..engine.context import NodeContext

CHANNELS = ("red", "green", "blue", "alpha")


class _MaskNode(Node):
    category = "mask"
    python_module = "comfy_extras.nodes_mask"


class SolidMask(_MaskNode):
    class_type = "SolidMask"
    description = "Creates a one-item mask filled with one value."
    inputs = (
        Input("value", "FLOAT", default=1.0, min=0.0, max=1.0, step=0.01),
        Input("width", "INT", default=512, min=1, max=MAX_RESOLUTION, step=1),
        Input("height", "INT", default=512, min=1, max=MAX_RESOLUTION, step=1),
    )
    outputs = (Output("MASK"),)

    def execute(self, ctx: NodeContext, value: float, width: int, height: int) -> tuple[Any]:
        import torch

        return (torch.full((1, height, width), value, dtype=torch.float32),)


class InvertMask(_MaskNode):
    class_type = "InvertMask"
    description = "Replaces every mask value v with 1 - v."
    inputs = (Input("mask", "MASK"),)
    outputs = (Output("MASK"),)

    def execute(self, ctx: NodeContext, mask: torch.Tensor) -> tuple[Any]:
        return (1.0 - mask,)


class ImageToMask(_MaskNode):
    class_type = "ImageToMask"
    description = "Takes one channel of an image as a mask."
    inputs = (Input("image", "IMAGE"), Input("channel", "COMBO", choices=CHANNELS))
    outputs = (Output("MASK"),)

    def execute(self, ctx: NodeContext, image: torch.Tensor, channel: str) -> tuple[Any]:
        if channel not in CHANNELS:
            raise ValueError(f"invalid channel {channel!r}, expected one of {CHANNELS}")
        index = CHANNELS.index(channel)
        if index >= image.shape[-1]:
            raise ValueError(
                f"the image has {image.shape[-1]} channels, so it has no {channel} channel"
            )
        return (image[..., index],)


class MaskToImage(_MaskNode):
    class_type = "MaskToImage"
    description = "Turns a mask into a grey RGB image."
    inputs = (Input("mask", "MASK"),)
    outputs = (Output("IMAGE"),)

    def execute(self, ctx: NodeContext, mask: torch.Tensor) -> tuple[Any]:
        # expand() repeats the values into 3 channels without copying them.
        planes = mask.reshape(-1, mask.shape[-2], mask.shape[-1], 1)
        return (planes.expand(-1, -1, -1, 3),)


NODE_CLASSES: list[type[Node]] = [SolidMask, InvertMask, ImageToMask, MaskToImage]
