"""Image nodes with ComfyUI's class types, inputs and numerics.

An IMAGE is a float tensor [batch, height, width, channels] with values in
0..1, as in ComfyUI. torch and PIL are imported inside functions so that
importing this module stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..engine.node import Input, Node, Output

if TYPE_CHECKING:
    import torch

    from ..engine.context import NodeContext

MAX_RESOLUTION = 16384
UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
CROP_METHODS = ("disabled", "center")
BLEND_MODES = ("normal", "multiply", "screen", "overlay", "soft_light", "difference")

_PIL_MODES = {3: "RGB", 4: "RGBA"}


# -- numerics shared by several nodes -----------------------------------------


def gaussian_weights(radius: int, sigma: float, device: Any = None) -> torch.Tensor:
    """Return the normalised 1-D gaussian of length 2*radius+1.

    ComfyUI's post-processing nodes place the samples at evenly spaced points
    from -1 to 1, so sigma is measured in units of the radius, not in pixels.
    Their 2-D kernel, exp(-(x^2 + y^2) / (2 sigma^2)) normalised, equals the
    outer product of this vector with itself.
    """
    import torch

    points = torch.linspace(-1.0, 1.0, 2 * radius + 1, device=device)
    weights = torch.exp(-(points * points) / (2.0 * sigma * sigma))
    return weights / weights.sum()


# Up to this radius one 2-D convolution is faster than two 1-D passes (an
# estimate from timing 64x64 and 512x512 RGB images with torch 2.13 on 2 CPU
# threads).
_MAX_DIRECT_BLUR_RADIUS = 4


def gaussian_blur(image: torch.Tensor, radius: int, sigma: float) -> torch.Tensor:
    """Blur an IMAGE with ComfyUI's gaussian kernel, reflecting the image at its borders.

    Large kernels run as two 1-D passes. The kernel is separable, so both
    ways give the 2-D convolution's result up to float rounding.
    """
    import torch.nn.functional as F

    _, height, width, channels = image.shape
    if radius >= height or radius >= width:
        raise ValueError(
            f"a blur radius of {radius} needs an image larger than {radius} pixels "
            f"on each side, but the image is {width}x{height}; lower the radius"
        )
    weights = gaussian_weights(radius, sigma, image.device).to(image.dtype)
    size = 2 * radius + 1
    planes = image.movedim(-1, 1)
    if radius <= _MAX_DIRECT_BLUR_RADIUS:
        kernel = (weights[:, None] * weights[None, :]).expand(channels, 1, size, size)
        padded = F.pad(planes, (radius, radius, radius, radius), mode="reflect")
        return F.conv2d(padded, kernel, groups=channels).movedim(1, -1)
    rows = F.pad(planes, (radius, radius, 0, 0), mode="reflect")
    rows = F.conv2d(rows, weights.view(1, 1, 1, size).expand(channels, 1, 1, size), groups=channels)
    cols = F.pad(rows, (0, 0, radius, radius), mode="reflect")
    cols = F.conv2d(cols, weights.view(1, 1, size, 1).expand(channels, 1, size, 1), groups=channels)
    return cols.movedim(1, -1)


def _center_crop(planes: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Trim a [B, C, H, W] tensor to the target aspect ratio, keeping the centre.

    The margins round like ComfyUI's common_upscale, so both crop the same rows.
    """
    old_height, old_width = planes.shape[-2], planes.shape[-1]
    old_aspect = old_width / old_height
    new_aspect = width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_width - old_width * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_height - old_height * (old_aspect / new_aspect)) / 2)
    return planes[..., y : old_height - y, x : old_width - x]


def _lanczos(planes: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Resize a [B, C, H, W] tensor with PIL's Lanczos filter, one image at a time.

    As in ComfyUI, the pixels pass through 8 bits on the way (``clip(255 * x)``
    truncated), so the result is quantised to multiples of 1/255. RGB and
    RGBA images are resized as one PIL image, so PIL premultiplies the alpha
    of RGBA like ComfyUI does. Other channel counts are resized per channel.
    """
    import numpy as np
    import torch
    from PIL import Image

    pixels = planes.movedim(1, -1).detach().cpu().float().numpy()
    pixels = np.clip(255.0 * pixels, 0, 255).astype(np.uint8)
    channels = pixels.shape[-1]
    resized = []
    for frame in pixels:
        mode = _PIL_MODES.get(channels)
        if mode is not None:
            out = np.asarray(
                Image.fromarray(frame, mode).resize((width, height), Image.Resampling.LANCZOS)
            )
        else:
            out = np.stack(
                [
                    np.asarray(
                        Image.fromarray(frame[..., c]).resize(
                            (width, height), Image.Resampling.LANCZOS
                        )
                    )
                    for c in range(channels)
                ],
                axis=-1,
            )
        resized.append(torch.from_numpy(out.astype(np.float32) / 255.0))
    return torch.stack(resized).movedim(-1, 1).to(planes.device, planes.dtype)


def resize_image(
    image: torch.Tensor, width: int, height: int, method: str, crop: str = "disabled"
) -> torch.Tensor:
    """Resize an IMAGE to width x height, as ComfyUI's common_upscale does.

    ``crop="center"`` first trims the image to the target aspect ratio.
    "bilinear" and "bicubic" use ``align_corners=False`` without antialiasing
    and are not clamped, so bicubic can overshoot 0..1 like in ComfyUI.
    """
    import torch.nn.functional as F

    if method not in UPSCALE_METHODS:
        raise ValueError(f"invalid upscale_method {method!r}, expected one of {UPSCALE_METHODS}")
    planes = image.movedim(-1, 1)
    if crop == "center":
        planes = _center_crop(planes, width, height)
    if method == "lanczos":
        resized = _lanczos(planes, width, height)
    else:
        resized = F.interpolate(planes, size=(height, width), mode=method)
    return resized.movedim(1, -1)


def repeat_to_batch(tensor: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut or cyclically repeat a tensor along dim 0 to ``batch_size`` items."""
    count = tensor.shape[0]
    if count > batch_size:
        return tensor[:batch_size]
    if count < batch_size:
        repeats = -(-batch_size // count)
        return tensor.repeat(repeats, *([1] * (tensor.dim() - 1)))[:batch_size]
    return tensor


# -- nodes ---------------------------------------------------------------------


class EmptyImage(Node):
    class_type = "EmptyImage"
    category = "image"
    description = "Creates a batch of images filled with one colour."
    cost_neutral_inputs = frozenset({"color"})
    inputs = (
        Input("width", "INT", default=512, min=1, max=MAX_RESOLUTION, step=1),
        Input("height", "INT", default=512, min=1, max=MAX_RESOLUTION, step=1),
        Input("batch_size", "INT", default=1, min=1, max=4096),
        Input("color", "INT", default=0, min=0, max=0xFFFFFF, step=1, extra={"display": "color"}),
    )
    outputs = (Output("IMAGE"),)

    def execute(
        self, ctx: NodeContext, width: int, height: int, batch_size: int, color: int
    ) -> tuple[Any]:
        import torch

        rgb = torch.tensor(
            [((color >> 16) & 0xFF) / 255.0, ((color >> 8) & 0xFF) / 255.0, (color & 0xFF) / 255.0]
        )
        image = torch.empty((batch_size, height, width, 3), dtype=torch.float32)
        image.copy_(rgb)
        return (image,)


class ImageInvert(Node):
    class_type = "ImageInvert"
    display_name = "Invert Image"
    category = "image"
    description = "Replaces every channel value v with 1 - v."
    inputs = (Input("image", "IMAGE"),)
    outputs = (Output("IMAGE"),)

    def execute(self, ctx: NodeContext, image: torch.Tensor) -> tuple[Any]:
        return (1.0 - image,)


class ImageBlur(Node):
    class_type = "ImageBlur"
    display_name = "Image Blur"
    category = "image/postprocessing"
    python_module = "comfy_extras.nodes_post_processing"
    description = "Applies a gaussian blur whose sigma is relative to the radius, as in ComfyUI."
    inputs = (
        Input("image", "IMAGE"),
        Input("blur_radius", "INT", default=1, min=1, max=31, step=1),
        Input("sigma", "FLOAT", default=1.0, min=0.1, max=10.0, step=0.1),
    )
    outputs = (Output("IMAGE"),)

    def execute(
        self, ctx: NodeContext, image: torch.Tensor, blur_radius: int, sigma: float
    ) -> tuple[Any]:
        if blur_radius == 0:
            return (image,)
        return (gaussian_blur(image, blur_radius, sigma),)


class ImageSharpen(Node):
    class_type = "ImageSharpen"
    display_name = "Image Sharpen"
    category = "image/postprocessing"
    python_module = "comfy_extras.nodes_post_processing"
    description = "Sharpens by unsharp masking with ComfyUI's gaussian kernel."
    inputs = (
        Input("image", "IMAGE"),
        Input("sharpen_radius", "INT", default=1, min=1, max=31, step=1),
        Input("sigma", "FLOAT", default=1.0, min=0.1, max=10.0, step=0.01),
        Input("alpha", "FLOAT", default=1.0, min=0.0, max=5.0, step=0.01),
    )
    outputs = (Output("IMAGE"),)

    def execute(
        self,
        ctx: NodeContext,
        image: torch.Tensor,
        sharpen_radius: int,
        sigma: float,
        alpha: float,
    ) -> tuple[Any]:
        if sharpen_radius == 0:
            return (image,)
        # ComfyUI's kernel is -10*alpha*gaussian with 1 + 10*alpha added at the
        # centre, so the result is image + 10*alpha*(image - blur), clamped.
        strength = 10.0 * alpha
        blurred = gaussian_blur(image, sharpen_radius, sigma)
        sharpened = image * (1.0 + strength) - blurred * strength
        return (sharpened.clamp_(0.0, 1.0),)


class ImageScale(Node):
    class_type = "ImageScale"
    display_name = "Upscale Image"
    category = "image/upscaling"
    description = "Resizes images to a width and height. A 0 in one of them keeps the aspect ratio."
    inputs = (
        Input("image", "IMAGE"),
        Input("upscale_method", "COMBO", choices=UPSCALE_METHODS),
        Input("width", "INT", default=512, min=0, max=MAX_RESOLUTION, step=1),
        Input("height", "INT", default=512, min=0, max=MAX_RESOLUTION, step=1),
        Input("crop", "COMBO", choices=CROP_METHODS),
    )
    outputs = (Output("IMAGE"),)

    def execute(
        self,
        ctx: NodeContext,
        image: torch.Tensor,
        upscale_method: str,
        width: int,
        height: int,
        crop: str,
    ) -> tuple[Any]:
        if width == 0 and height == 0:
            return (image,)
        old_height, old_width = image.shape[1], image.shape[2]
        if width == 0:
            width = max(1, round(old_width * height / old_height))
        elif height == 0:
            height = max(1, round(old_height * width / old_width))
        return (resize_image(image, width, height, upscale_method, crop),)


class ImageScaleBy(Node):
    class_type = "ImageScaleBy"
    display_name = "Upscale Image By"
    category = "image/upscaling"
    description = "Resizes images by a factor."
    inputs = (
        Input("image", "IMAGE"),
        Input("upscale_method", "COMBO", choices=UPSCALE_METHODS),
        Input("scale_by", "FLOAT", default=1.0, min=0.01, max=8.0, step=0.01),
    )
    outputs = (Output("IMAGE"),)

    def execute(
        self, ctx: NodeContext, image: torch.Tensor, upscale_method: str, scale_by: float
    ) -> tuple[Any]:
        # ComfyUI rounds without a lower bound and fails on a 0-pixel result.
        # One pixel is the smallest image that can continue down the graph.
        width = max(1, round(image.shape[2] * scale_by))
        height = max(1, round(image.shape[1] * scale_by))
        return (resize_image(image, width, height, upscale_method),)


def _blend(base: torch.Tensor, layer: torch.Tensor, mode: str) -> torch.Tensor:
    """Combine two images with one of ComfyUI's blend modes, before mixing by the factor."""
    import torch

    if mode == "normal":
        return layer
    if mode == "multiply":
        return base * layer
    if mode == "screen":
        return 1.0 - (1.0 - base) * (1.0 - layer)
    if mode == "overlay":
        return torch.where(
            base <= 0.5, 2.0 * base * layer, 1.0 - 2.0 * (1.0 - base) * (1.0 - layer)
        )
    if mode == "soft_light":
        # The W3C soft-light formula, which ComfyUI uses.
        lifted = torch.where(base <= 0.25, ((16.0 * base - 12.0) * base + 4.0) * base, base.sqrt())
        return torch.where(
            layer <= 0.5,
            base - (1.0 - 2.0 * layer) * base * (1.0 - base),
            base + (2.0 * layer - 1.0) * (lifted - base),
        )
    if mode == "difference":
        # ComfyUI subtracts without abs(); the final clamp turns negatives into 0.
        return base - layer
    raise ValueError(f"invalid blend_mode {mode!r}, expected one of {BLEND_MODES}")


class ImageBlend(Node):
    class_type = "ImageBlend"
    display_name = "Image Blend"
    category = "image/postprocessing"
    python_module = "comfy_extras.nodes_post_processing"
    description = (
        "Blends image2 over image1; image2 is resized (bicubic, centre crop) to image1's size."
    )
    inputs = (
        Input("image1", "IMAGE"),
        Input("image2", "IMAGE"),
        Input("blend_factor", "FLOAT", default=0.5, min=0.0, max=1.0, step=0.01),
        Input("blend_mode", "COMBO", choices=BLEND_MODES),
    )
    outputs = (Output("IMAGE"),)

    def execute(
        self,
        ctx: NodeContext,
        image1: torch.Tensor,
        image2: torch.Tensor,
        blend_factor: float,
        blend_mode: str,
    ) -> tuple[Any]:
        image2 = image2.to(image1.device)
        if image1.shape[-1] != image2.shape[-1]:
            raise ValueError(
                f"ImageBlend needs images with the same number of channels, but image1 has "
                f"{image1.shape[-1]} and image2 has {image2.shape[-1]}"
            )
        if image1.shape[1:3] != image2.shape[1:3]:
            image2 = resize_image(image2, image1.shape[2], image1.shape[1], "bicubic", "center")
        blended = _blend(image1, image2, blend_mode)
        mixed = image1 * (1.0 - blend_factor) + blended * blend_factor
        return (mixed.clamp_(0.0, 1.0),)


class ImageCrop(Node):
    class_type = "ImageCrop"
    display_name = "Image Crop"
    category = "image/transform"
    description = "Cuts a width x height region whose top-left corner is at (x, y)."
    inputs = (
        Input("image", "IMAGE"),
        Input("width", "INT", default=512, min=1, max=MAX_RESOLUTION, step=1),
        Input("height", "INT", default=512, min=1, max=MAX_RESOLUTION, step=1),
        Input("x", "INT", default=0, min=0, max=MAX_RESOLUTION, step=1),
        Input("y", "INT", default=0, min=0, max=MAX_RESOLUTION, step=1),
    )
    outputs = (Output("IMAGE"),)

    def execute(
        self, ctx: NodeContext, image: torch.Tensor, width: int, height: int, x: int, y: int
    ) -> tuple[Any]:
        # Like ComfyUI, a corner past the edge moves onto the last row or
        # column, and the region is cut short at the image border.
        x = min(x, image.shape[2] - 1)
        y = min(y, image.shape[1] - 1)
        return (image[:, y : y + height, x : x + width, :],)


def _match_channels(first: torch.Tensor, second: torch.Tensor) -> tuple[Any, Any]:
    """Pad the image with fewer channels with opaque (1.0) channels, as ImageBatch does."""
    import torch.nn.functional as F

    missing = first.shape[-1] - second.shape[-1]
    if missing > 0:
        second = F.pad(second, (0, missing), value=1.0)
    elif missing < 0:
        first = F.pad(first, (0, -missing), value=1.0)
    return first, second


class ImageBatch(Node):
    class_type = "ImageBatch"
    display_name = "Batch Images"
    category = "image"
    description = (
        "Joins two batches; image2 is resized (bilinear, centre crop) to image1's size."
    )
    inputs = (Input("image1", "IMAGE"), Input("image2", "IMAGE"))
    outputs = (Output("IMAGE"),)

    def execute(self, ctx: NodeContext, image1: torch.Tensor, image2: torch.Tensor) -> tuple[Any]:
        import torch

        image2 = image2.to(image1.device)
        image1, image2 = _match_channels(image1, image2)
        if image1.shape[1:3] != image2.shape[1:3]:
            image2 = resize_image(image2, image1.shape[2], image1.shape[1], "bilinear", "center")
        return (torch.cat((image1, image2), dim=0),)


class ImageCompositeMasked(Node):
    class_type = "ImageCompositeMasked"
    category = "image"
    python_module = "comfy_extras.nodes_mask"
    description = (
        "Pastes source onto destination at (x, y), weighted by an optional mask "
        "that is resized to the source."
    )
    inputs = (
        Input("destination", "IMAGE"),
        Input("source", "IMAGE"),
        Input("x", "INT", default=0, min=0, max=MAX_RESOLUTION, step=1),
        Input("y", "INT", default=0, min=0, max=MAX_RESOLUTION, step=1),
        Input("resize_source", "BOOLEAN", default=False),
        Input("mask", "MASK", optional=True),
    )
    outputs = (Output("IMAGE"),)

    def execute(
        self,
        ctx: NodeContext,
        destination: torch.Tensor,
        source: torch.Tensor,
        x: int,
        y: int,
        resize_source: bool,
        mask: torch.Tensor | None = None,
    ) -> tuple[Any]:
        import torch.nn.functional as F

        source = source.to(destination.device, destination.dtype)
        # Extra source channels are dropped. A missing destination alpha is
        # treated as opaque, so an RGBA source can be pasted onto RGB.
        if source.shape[-1] > destination.shape[-1]:
            source = source[..., : destination.shape[-1]]
        elif source.shape[-1] < destination.shape[-1]:
            source = F.pad(source, (0, destination.shape[-1] - source.shape[-1]), value=1.0)
        batch, dest_height, dest_width = destination.shape[:3]
        if resize_source:
            source = resize_image(source, dest_width, dest_height, "bilinear")
        source = repeat_to_batch(source, batch)

        visible_height = min(source.shape[1], dest_height - y)
        visible_width = min(source.shape[2], dest_width - x)
        if visible_height <= 0 or visible_width <= 0:
            return (destination,)
        patch = source[:, :visible_height, :visible_width]
        region = destination[:, y : y + visible_height, x : x + visible_width]

        output = destination.clone()
        if mask is None:
            output[:, y : y + visible_height, x : x + visible_width] = patch
            return (output,)
        weights = self._mask_weights(mask, source, batch).to(destination.device, destination.dtype)
        weights = weights[:, :visible_height, :visible_width, None]
        output[:, y : y + visible_height, x : x + visible_width] = (
            weights * patch + (1.0 - weights) * region
        )
        return (output,)

    @staticmethod
    def _mask_weights(mask: torch.Tensor, source: torch.Tensor, batch: int) -> torch.Tensor:
        import torch.nn.functional as F

        planes = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1])
        if planes.shape[-2:] != source.shape[1:3]:
            planes = F.interpolate(planes, size=tuple(source.shape[1:3]), mode="bilinear")
        return repeat_to_batch(planes[:, 0], batch)


NODE_CLASSES: list[type[Node]] = [
    EmptyImage,
    ImageInvert,
    ImageBlur,
    ImageSharpen,
    ImageScale,
    ImageScaleBy,
    ImageBlend,
    ImageCrop,
    ImageBatch,
    ImageCompositeMasked,
]
