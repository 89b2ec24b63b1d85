"""Image nodes: exact values on small tensors, checked against ComfyUI's formulas."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.engine.artifacts import ArtifactStore
from brushwork.engine.context import InterruptFlag, NodeContext
from brushwork.engine.paths import DataPaths
from brushwork.nodes.image import (
    EmptyImage,
    ImageBatch,
    ImageBlend,
    ImageBlur,
    ImageCompositeMasked,
    ImageCrop,
    ImageInvert,
    ImageScale,
    ImageScaleBy,
    ImageSharpen,
)


@pytest.fixture
def ctx(tmp_path):
    paths = DataPaths(tmp_path)
    paths.create()
    return NodeContext(
        prompt_id="prompt-1",
        node_id="1",
        class_type="test",
        attempt=1,
        paths=paths,
        artifacts=ArtifactStore(paths.artifacts),
        prompt={},
        extra_data={},
        interrupt=InterruptFlag(),
    )


def run(cls, ctx, **inputs):
    return cls().execute(ctx, **inputs)[0]


def comfy_kernel(radius, sigma):
    """ComfyUI's 2-D gaussian, written out in float64: samples at -1..1, normalised."""
    points = np.linspace(-1.0, 1.0, 2 * radius + 1)
    x, y = np.meshgrid(points, points, indexing="ij")
    distance = np.sqrt(x * x + y * y)
    kernel = np.exp(-(distance * distance) / (2.0 * sigma * sigma))
    return kernel / kernel.sum()


def convolve_reflect(image, kernel):
    """Convolve each channel of a [B, H, W, C] array, reflecting at the borders."""
    radius = kernel.shape[0] // 2
    padded = np.pad(image, ((0, 0), (radius, radius), (radius, radius), (0, 0)), mode="reflect")
    height, width = image.shape[1:3]
    out = np.zeros(image.shape, dtype=np.float64)
    for dy in range(kernel.shape[0]):
        for dx in range(kernel.shape[1]):
            out += kernel[dy, dx] * padded[:, dy : dy + height, dx : dx + width, :]
    return out


def random_image(seed, shape):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=generator)


# -- EmptyImage and ImageInvert -------------------------------------------------


def test_empty_image_color_channels(ctx):
    out = run(EmptyImage, ctx, width=3, height=2, batch_size=2, color=0x123456)

    assert out.shape == (2, 2, 3, 3)
    assert out.dtype == torch.float32
    expected = torch.tensor([0x12 / 255, 0x34 / 255, 0x56 / 255], dtype=torch.float32)
    assert torch.equal(out, expected.expand(2, 2, 3, 3))


def test_empty_image_owns_memory(ctx):
    out = run(EmptyImage, ctx, width=2, height=2, batch_size=1, color=0)

    out[0, 0, 0, 0] = 1.0

    assert out.sum().item() == 1.0


def test_invert_known_values(ctx):
    image = torch.tensor([0.0, 0.25, 1.0, 0.625]).reshape(1, 1, 4, 1).expand(1, 1, 4, 3)

    out = run(ImageInvert, ctx, image=image)

    assert torch.equal(out[0, 0, :, 0], torch.tensor([1.0, 0.75, 0.0, 0.375]))


# -- ImageBlur ------------------------------------------------------------------


def impulse(size=9, channels=3):
    image = torch.zeros(1, size, size, channels)
    image[0, size // 2, size // 2, :] = 1.0
    return image


def test_blur_impulse_sums_to_one(ctx):
    out = run(ImageBlur, ctx, image=impulse(), blur_radius=2, sigma=1.0)

    assert out[0, :, :, 0].sum().item() == pytest.approx(1.0, abs=1e-6)


def test_blur_impulse_is_symmetric(ctx):
    out = run(ImageBlur, ctx, image=impulse(), blur_radius=3, sigma=0.7)[0, :, :, 1]

    assert torch.allclose(out, out.flip(0), atol=1e-7)
    assert torch.allclose(out, out.flip(1), atol=1e-7)
    assert torch.allclose(out, out.T, atol=1e-7)


def test_blur_impulse_is_kernel(ctx):
    out = run(ImageBlur, ctx, image=impulse(), blur_radius=2, sigma=0.5)

    kernel = comfy_kernel(2, 0.5)
    np.testing.assert_allclose(out[0, 2:7, 2:7, 0].numpy(), kernel, atol=1e-6)


@pytest.mark.parametrize(("radius", "sigma"), [(1, 1.0), (2, 0.3), (6, 2.5), (7, 0.8)])
def test_blur_matches_reflect_reference(ctx, radius, sigma):
    # Radius 6 and 7 take the two-pass path, 1 and 2 the single 2-D kernel.
    image = random_image(radius, (2, 11, 13, 3))

    out = run(ImageBlur, ctx, image=image, blur_radius=radius, sigma=sigma)

    expected = convolve_reflect(image.double().numpy(), comfy_kernel(radius, sigma))
    assert out.shape == image.shape
    np.testing.assert_allclose(out.numpy(), expected, atol=2e-6)


def test_blur_keeps_constant_image(ctx):
    image = torch.full((1, 8, 8, 4), 0.3)

    out = run(ImageBlur, ctx, image=image, blur_radius=3, sigma=2.0)

    assert torch.allclose(out, image, atol=1e-6)


def test_blur_radius_larger_than_image(ctx):
    with pytest.raises(ValueError, match="blur radius of 5"):
        run(ImageBlur, ctx, image=torch.zeros(1, 4, 9, 3), blur_radius=5, sigma=1.0)


# -- ImageSharpen ---------------------------------------------------------------


def comfy_sharpen(image, radius, sigma, alpha):
    kernel = comfy_kernel(radius, sigma) * -(alpha * 10)
    kernel[radius, radius] += 1.0 - kernel.sum()
    return np.clip(convolve_reflect(image, kernel), 0.0, 1.0)


@pytest.mark.parametrize(
    ("radius", "sigma", "alpha"), [(1, 1.0, 1.0), (2, 0.5, 0.2), (6, 3.0, 0.05)]
)
def test_sharpen_matches_comfy_kernel(ctx, radius, sigma, alpha):
    image = random_image(7, (1, 14, 12, 3))

    out = run(ImageSharpen, ctx, image=image, sharpen_radius=radius, sigma=sigma, alpha=alpha)

    expected = comfy_sharpen(image.double().numpy(), radius, sigma, alpha)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)


def test_sharpen_alpha_zero_is_identity(ctx):
    image = random_image(3, (1, 6, 6, 3))

    out = run(ImageSharpen, ctx, image=image, sharpen_radius=2, sigma=1.0, alpha=0.0)

    assert torch.allclose(out, image, atol=1e-6)


def test_sharpen_clamps_to_unit_range(ctx):
    image = torch.zeros(1, 5, 5, 3)
    image[0, 2, 2] = 1.0

    out = run(ImageSharpen, ctx, image=image, sharpen_radius=1, sigma=1.0, alpha=5.0)

    assert out.min().item() == 0.0
    assert out.max().item() == 1.0


# -- ImageScale and ImageScaleBy -----------------------------------------------


def columns_image(width, height):
    """An image whose value at column x is x / 100, in every row and channel."""
    row = torch.arange(width, dtype=torch.float32) / 100.0
    return row.view(1, 1, width, 1).expand(1, height, width, 3).clone()


def test_scale_zero_width_keeps_aspect(ctx):
    out = run(
        ImageScale, ctx, image=torch.zeros(1, 20, 40, 3), upscale_method="bilinear",
        width=0, height=10, crop="disabled",
    )

    assert out.shape == (1, 10, 20, 3)


def test_scale_zero_height_keeps_aspect(ctx):
    out = run(
        ImageScale, ctx, image=torch.zeros(1, 30, 45, 3), upscale_method="area",
        width=10, height=0, crop="disabled",
    )

    # round(30 * 10 / 45) = round(6.67) = 7
    assert out.shape == (1, 7, 10, 3)


def test_scale_both_zero_returns_input(ctx):
    image = torch.zeros(1, 5, 5, 3)

    out = run(
        ImageScale, ctx, image=image, upscale_method="bicubic", width=0, height=0,
        crop="center",
    )

    assert out is image


def test_scale_center_crop_region(ctx):
    # 6x4 to 4x4: ComfyUI trims round((6 - 6 * (1 / 1.5)) / 2) = 1 column per side.
    out = run(
        ImageScale, ctx, image=columns_image(6, 4), upscale_method="nearest-exact",
        width=4, height=4, crop="center",
    )

    assert torch.equal(out[0, 0, :, 0], torch.tensor([0.01, 0.02, 0.03, 0.04]))


def test_scale_bilinear_downsample_values(ctx):
    # Without antialiasing, halving the width averages each pair of columns.
    out = run(
        ImageScale, ctx, image=columns_image(4, 2), upscale_method="bilinear",
        width=2, height=2, crop="disabled",
    )

    assert torch.allclose(out[0, 0, :, 0], torch.tensor([0.005, 0.025]))


def test_scale_lanczos_matches_pil(ctx):
    image = random_image(11, (2, 9, 7, 3))

    out = run(
        ImageScale, ctx, image=image, upscale_method="lanczos", width=12, height=5,
        crop="disabled",
    )

    for index in range(2):
        pixels = np.clip(255.0 * image[index].numpy(), 0, 255).astype(np.uint8)
        resized = Image.fromarray(pixels).resize((12, 5), Image.Resampling.LANCZOS)
        expected = np.asarray(resized).astype(np.float32) / 255.0
        assert np.array_equal(out[index].numpy(), expected)


def test_scale_lanczos_one_channel(ctx):
    image = random_image(12, (1, 6, 6, 1))

    out = run(
        ImageScale, ctx, image=image, upscale_method="lanczos", width=3, height=3,
        crop="disabled",
    )

    assert out.shape == (1, 3, 3, 1)


def test_scale_by_rounds_size(ctx):
    out = run(
        ImageScaleBy, ctx, image=torch.zeros(1, 6, 10, 3), upscale_method="area", scale_by=0.5
    )

    assert out.shape == (1, 3, 5, 3)


def test_scale_by_keeps_one_pixel(ctx):
    out = run(
        ImageScaleBy, ctx, image=torch.zeros(1, 8, 8, 3), upscale_method="bilinear",
        scale_by=0.01,
    )

    assert out.shape == (1, 1, 1, 3)


# -- ImageBlend -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "base", "layer", "expected"),
    [
        ("normal", 0.2, 0.6, 0.6),
        ("multiply", 0.5, 0.4, 0.2),
        ("screen", 0.5, 0.4, 0.7),
        ("overlay", 0.25, 0.5, 0.25),
        ("overlay", 0.75, 0.5, 0.75),
        ("soft_light", 0.25, 0.25, 0.15625),
        ("soft_light", 0.64, 0.75, 0.72),
        # g(0.125) = ((16 * 0.125 - 12) * 0.125 + 4) * 0.125 = 0.34375
        ("soft_light", 0.125, 0.75, 0.125 + 0.5 * (0.34375 - 0.125)),
        ("difference", 0.75, 0.25, 0.5),
        ("difference", 0.25, 0.75, 0.0),
    ],
)
def test_blend_mode_values(ctx, mode, base, layer, expected):
    image1 = torch.full((1, 2, 2, 3), base)
    image2 = torch.full((1, 2, 2, 3), layer)

    out = run(ImageBlend, ctx, image1=image1, image2=image2, blend_factor=1.0, blend_mode=mode)

    assert out[0, 0, 0, 0].item() == pytest.approx(expected, abs=1e-6)


def test_blend_factor_mixes_linearly(ctx):
    image1 = torch.full((1, 2, 2, 3), 0.2)
    image2 = torch.full((1, 2, 2, 3), 0.6)

    out = run(ImageBlend, ctx, image1=image1, image2=image2, blend_factor=0.25, blend_mode="normal")

    assert out[0, 0, 0, 0].item() == pytest.approx(0.2 * 0.75 + 0.6 * 0.25)


def test_blend_resizes_image2(ctx):
    image1 = torch.zeros(1, 4, 6, 3)
    image2 = torch.ones(1, 8, 8, 3)

    out = run(ImageBlend, ctx, image1=image1, image2=image2, blend_factor=1.0, blend_mode="normal")

    assert out.shape == (1, 4, 6, 3)
    assert torch.allclose(out, torch.ones(1, 4, 6, 3))


def test_blend_channel_mismatch(ctx):
    with pytest.raises(ValueError, match="same number of channels"):
        run(
            ImageBlend, ctx, image1=torch.zeros(1, 2, 2, 3), image2=torch.zeros(1, 2, 2, 4),
            blend_factor=0.5, blend_mode="normal",
        )


# -- ImageCrop ------------------------------------------------------------------


def test_crop_region(ctx):
    out = run(ImageCrop, ctx, image=columns_image(8, 6), width=3, height=2, x=2, y=1)

    assert out.shape == (1, 2, 3, 3)
    assert torch.equal(out[0, 0, :, 0], torch.tensor([0.02, 0.03, 0.04]))


def test_crop_corner_past_edge(ctx):
    # ComfyUI moves the corner onto the last column and cuts the region short.
    out = run(ImageCrop, ctx, image=columns_image(8, 6), width=4, height=4, x=20, y=5)

    assert out.shape == (1, 1, 1, 3)
    assert out[0, 0, 0, 0].item() == pytest.approx(0.07)


# -- ImageBatch -----------------------------------------------------------------


def test_batch_concatenates(ctx):
    image1 = torch.zeros(2, 4, 4, 3)
    image2 = torch.ones(1, 4, 4, 3)

    out = run(ImageBatch, ctx, image1=image1, image2=image2)

    assert out.shape == (3, 4, 4, 3)
    assert torch.equal(out[2], torch.ones(4, 4, 3))


def test_batch_resizes_image2(ctx):
    out = run(ImageBatch, ctx, image1=torch.zeros(1, 4, 6, 3), image2=torch.ones(1, 9, 9, 3))

    assert out.shape == (2, 4, 6, 3)
    assert torch.allclose(out[1], torch.ones(4, 6, 3))


def test_batch_pads_alpha_with_ones(ctx):
    out = run(ImageBatch, ctx, image1=torch.zeros(1, 2, 2, 4), image2=torch.zeros(1, 2, 2, 3))

    assert out.shape == (2, 2, 2, 4)
    assert torch.equal(out[1, ..., 3], torch.ones(2, 2))


# -- ImageCompositeMasked -------------------------------------------------------


def composite(ctx, destination, source, x, y, *, resize_source=False, mask=None):
    return run(
        ImageCompositeMasked, ctx, destination=destination, source=source, x=x, y=y,
        resize_source=resize_source, mask=mask,
    )


def test_composite_pastes_source(ctx):
    out = composite(ctx, torch.zeros(1, 5, 5, 3), torch.ones(1, 2, 3, 3), x=1, y=2)

    expected = torch.zeros(1, 5, 5, 3)
    expected[:, 2:4, 1:4] = 1.0
    assert torch.equal(out, expected)


def test_composite_clips_at_edges(ctx):
    out = composite(ctx, torch.zeros(1, 4, 4, 3), torch.ones(1, 3, 3, 3), x=3, y=2)

    assert out[0, :, :, 0].sum().item() == 2.0
    assert torch.equal(out[0, 2:4, 3, 0], torch.ones(2))


def test_composite_leaves_destination_unchanged(ctx):
    destination = torch.zeros(1, 4, 4, 3)

    composite(ctx, destination, torch.ones(1, 2, 2, 3), x=0, y=0)

    assert destination.sum().item() == 0.0


def test_composite_mask_weights(ctx):
    mask = torch.tensor([[[0.0, 0.25], [0.5, 1.0]]])

    out = composite(
        ctx, torch.zeros(1, 3, 3, 3), torch.ones(1, 2, 2, 3), x=1, y=1, mask=mask
    )

    assert torch.equal(out[0, 1:3, 1:3, 0], mask[0])
    assert out[0, 0, :, :].sum().item() == 0.0


def test_composite_resizes_mask(ctx):
    # A 1x1 mask of 0.5 becomes a uniform 0.5 over the 2x2 source.
    mask = torch.full((1, 1, 1), 0.5)

    out = composite(ctx, torch.zeros(1, 2, 2, 3), torch.ones(1, 2, 2, 3), x=0, y=0, mask=mask)

    assert torch.allclose(out, torch.full((1, 2, 2, 3), 0.5))


def test_composite_resize_source(ctx):
    out = composite(
        ctx, torch.zeros(1, 4, 6, 3), torch.ones(1, 2, 2, 3), x=0, y=0, resize_source=True
    )

    assert torch.allclose(out, torch.ones(1, 4, 6, 3))


def test_composite_repeats_source_batch(ctx):
    out = composite(ctx, torch.zeros(3, 2, 2, 3), torch.ones(1, 2, 2, 3), x=0, y=0)

    assert torch.equal(out, torch.ones(3, 2, 2, 3))


# -- specs ----------------------------------------------------------------------


def test_benchmark_inputs_spec():
    blur = ImageBlur.object_info()["input"]["required"]
    scale = ImageScale.object_info()["input"]["required"]
    empty = EmptyImage.object_info()["input"]["required"]

    assert blur["blur_radius"] == ["INT", {"default": 1, "min": 1, "max": 31, "step": 1}]
    assert blur["sigma"] == ["FLOAT", {"default": 1.0, "min": 0.1, "max": 10.0, "step": 0.1}]
    assert scale["upscale_method"][0] == ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
    assert scale["crop"][0] == ["disabled", "center"]
    assert empty["color"] == [
        "INT", {"default": 0, "min": 0, "max": 0xFFFFFF, "step": 1, "display": "color"}
    ]


def test_node_modules_skip_torch_import():
    code = (
        "import sys\n"
        "import brushwork.nodes.image, brushwork.nodes.mask\n"
        "import brushwork.nodes.io_nodes, brushwork.nodes.primitives\n"
        "print(sorted(m for m in ('torch', 'PIL.Image') if m in sys.modules))\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
