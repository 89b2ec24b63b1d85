"""Mask nodes: shapes and exact values."""

from __future__ import annotations

import pytest
import torch

from brushwork.engine.artifacts import ArtifactStore
from brushwork.engine.context import InterruptFlag, NodeContext
from brushwork.engine.paths import DataPaths
from brushwork.nodes.mask import ImageToMask, InvertMask, MaskToImage, SolidMask


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


def rgba_image():
    """A 1x2x2 RGBA image whose channel c contains c / 10 + pixel index / 100."""
    channel = torch.arange(4, dtype=torch.float32) / 10.0
    pixel = torch.arange(4, dtype=torch.float32).view(2, 2, 1) / 100.0
    return (channel + pixel).unsqueeze(0)


def test_solid_mask_shape_and_value(ctx):
    out = run(SolidMask, ctx, value=0.25, width=5, height=3)

    assert out.shape == (1, 3, 5)
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.full((1, 3, 5), 0.25))


def test_invert_mask_values(ctx):
    mask = torch.tensor([[[0.0, 0.25], [0.75, 1.0]]])

    out = run(InvertMask, ctx, mask=mask)

    assert torch.equal(out, torch.tensor([[[1.0, 0.75], [0.25, 0.0]]]))


@pytest.mark.parametrize(
    ("channel", "index"), [("red", 0), ("green", 1), ("blue", 2), ("alpha", 3)]
)
def test_image_to_mask_channel(ctx, channel, index):
    image = rgba_image()

    out = run(ImageToMask, ctx, image=image, channel=channel)

    assert out.shape == (1, 2, 2)
    assert torch.equal(out, image[..., index])


def test_image_to_mask_missing_alpha(ctx):
    with pytest.raises(ValueError, match="no alpha channel"):
        run(ImageToMask, ctx, image=torch.zeros(1, 2, 2, 3), channel="alpha")


def test_mask_to_image_grey(ctx):
    mask = torch.tensor([[[0.0, 0.5]], [[1.0, 0.25]]])

    out = run(MaskToImage, ctx, mask=mask)

    assert out.shape == (2, 1, 2, 3)
    for channel in range(3):
        assert torch.equal(out[..., channel], mask)


def test_mask_to_image_accepts_2d_mask(ctx):
    out = run(MaskToImage, ctx, mask=torch.ones(3, 4))

    assert out.shape == (1, 3, 4, 3)


def test_mask_round_trip(ctx):
    mask = torch.rand(2, 3, 3)

    image = run(MaskToImage, ctx, mask=mask)
    back = run(ImageToMask, ctx, image=image, channel="green")

    assert torch.equal(back, mask)
