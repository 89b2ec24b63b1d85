"""EmptyLatentImage, LatentUpscale and LatentUpscaleBy."""

from __future__ import annotations

import pytest
import torch

from brushwork.nodes.sd import EmptyLatentImage, LatentUpscale, LatentUpscaleBy
from brushwork.nodes.sd.node_latent import UPSCALE_METHODS


def _latent(height: int = 8, width: int = 12) -> dict:
    return {"samples": torch.randn(2, 4, height, width, generator=torch.Generator().manual_seed(0))}


def test_empty_latent_is_zeros_of_one_eighth(make_context) -> None:
    (latent,) = EmptyLatentImage().execute(make_context(), width=96, height=64, batch_size=3)

    assert latent["samples"].shape == (3, 4, 8, 12)
    assert latent["samples"].dtype == torch.float32
    assert not latent["samples"].any()


@pytest.mark.parametrize("method", UPSCALE_METHODS)
def test_upscale_to_size(make_context, method: str) -> None:
    (result,) = LatentUpscale().execute(
        make_context(),
        samples=_latent(),
        upscale_method=method,
        width=192,
        height=128,
        crop="disabled",
    )

    assert result["samples"].shape == (2, 4, 16, 24)
    assert torch.isfinite(result["samples"]).all()


def test_upscale_zero_side_keeps_aspect_ratio(make_context) -> None:
    (wide,) = LatentUpscale().execute(
        make_context(),
        samples=_latent(),
        upscale_method="bilinear",
        width=0,
        height=128,
        crop="disabled",
    )
    (tall,) = LatentUpscale().execute(
        make_context(),
        samples=_latent(),
        upscale_method="bilinear",
        width=192,
        height=0,
        crop="disabled",
    )

    assert wide["samples"].shape[-2:] == (16, 24)
    assert tall["samples"].shape[-2:] == (16, 24)


def test_upscale_both_zero_returns_input(make_context) -> None:
    source = _latent()
    (result,) = LatentUpscale().execute(
        make_context(),
        samples=source,
        upscale_method="bilinear",
        width=0,
        height=0,
        crop="disabled",
    )

    assert torch.equal(result["samples"], source["samples"])


def test_upscale_center_crop_takes_middle(make_context) -> None:
    samples = torch.arange(12, dtype=torch.float32).expand(1, 4, 8, 12).clone()
    (result,) = LatentUpscale().execute(
        make_context(),
        samples={"samples": samples},
        upscale_method="nearest-exact",
        width=64,
        height=64,
        crop="center",
    )

    assert result["samples"].shape == (1, 4, 8, 8)
    assert torch.equal(result["samples"][0, 0, 0], torch.arange(2, 10, dtype=torch.float32))


def test_upscale_keeps_other_latent_keys(make_context) -> None:
    source = {**_latent(), "batch_index": [0, 1]}
    (result,) = LatentUpscaleBy().execute(
        make_context(), samples=source, upscale_method="area", scale_by=0.5
    )

    assert result["batch_index"] == [0, 1]
    assert result["samples"].shape == (2, 4, 4, 6)


@pytest.mark.parametrize(("scale", "size"), [(1.5, (12, 18)), (2.0, (16, 24)), (0.25, (2, 3))])
def test_upscale_by_factor(make_context, scale: float, size: tuple[int, int]) -> None:
    (result,) = LatentUpscaleBy().execute(
        make_context(), samples=_latent(), upscale_method="bicubic", scale_by=scale
    )

    assert result["samples"].shape[-2:] == size
