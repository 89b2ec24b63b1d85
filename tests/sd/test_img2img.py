"""Image to image: VAEEncode, KSampler with denoise below 1, and KSamplerAdvanced step ranges."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from brushwork.nodes.sd import KSamplerAdvanced, VAEEncode
from brushwork.nodes.sd.sampling import _denoised
from tests.sd.conftest import SdData
from tests.sd.graph import Loaded, decode, default_graph, empty_latent, ksampler, load


def _gradient_image(height: int = 64, width: int = 64) -> torch.Tensor:
    ys = torch.linspace(0, 1, height)[:, None].expand(height, width)
    xs = torch.linspace(0, 1, width)[None, :].expand(height, width)
    return torch.stack([ys, xs, (ys + xs) / 2], dim=-1)[None]


def _advanced(ctx, loaded: Loaded, latent: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "model": loaded.model,
        "add_noise": "enable",
        "noise_seed": 5,
        "steps": 4,
        "cfg": 8.0,
        "sampler_name": "euler",
        "scheduler": "normal",
        "positive": loaded.positive,
        "negative": loaded.negative,
        "latent_image": latent,
        "start_at_step": 0,
        "end_at_step": 10000,
        "return_with_leftover_noise": "disable",
    }
    inputs.update(overrides)
    (result,) = KSamplerAdvanced().execute(ctx, **inputs)
    return result


def test_vae_encode_gives_latent_of_one_eighth(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    (latent,) = VAEEncode().execute(ctx, pixels=_gradient_image(72, 64), vae=loaded.vae)

    assert latent["samples"].shape == (1, 4, 9, 8)
    assert latent["samples"].dtype == torch.float32


def test_vae_encode_crops_to_multiple_of_eight(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    (latent,) = VAEEncode().execute(ctx, pixels=_gradient_image(70, 67), vae=loaded.vae)

    assert latent["samples"].shape == (1, 4, 8, 8)


def test_img2img_changes_image_and_is_deterministic(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    (encoded,) = VAEEncode().execute(ctx, pixels=_gradient_image(), vae=loaded.vae)

    first = decode(ctx, loaded, ksampler(ctx, loaded, encoded, steps=4, denoise=0.5))
    second = decode(ctx, loaded, ksampler(ctx, loaded, encoded, steps=4, denoise=0.5))
    txt2img = default_graph(ctx, sd_data.file_name("sd1"), steps=4)

    assert torch.isfinite(first).all()
    assert first.numpy().tobytes() == second.numpy().tobytes()
    assert not torch.equal(first, txt2img)


def test_lower_denoise_stays_closer_to_input(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    (encoded,) = VAEEncode().execute(ctx, pixels=_gradient_image(), vae=loaded.vae)
    source = encoded["samples"]

    near = ksampler(ctx, loaded, encoded, steps=10, denoise=0.1)["samples"]
    far = ksampler(ctx, loaded, encoded, steps=10, denoise=0.9)["samples"]

    assert (near - source).abs().mean() < (far - source).abs().mean()


def test_denoise_zero_returns_input(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    source = {"samples": torch.randn(1, 4, 8, 8)}

    result = ksampler(ctx, loaded, source, denoise=0.0)

    assert torch.equal(result["samples"], source["samples"])


# Samplers that keep no state across steps, so that a run split at a step
# boundary equals the whole run. ddim keeps its samples in the "vp" form, so
# the split also round-trips the conversion of leftover-noise latents.
@pytest.mark.parametrize("sampler_name", ["euler", "heun", "dpm_2", "ddim"])
def test_split_advanced_run_matches_single_run(
    sd_data: SdData, make_context, sampler_name: str
) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    whole = _advanced(ctx, loaded, empty_latent(ctx), sampler_name=sampler_name)

    first_half = _advanced(
        ctx,
        loaded,
        empty_latent(ctx),
        sampler_name=sampler_name,
        end_at_step=2,
        return_with_leftover_noise="enable",
    )
    second_half = _advanced(
        ctx, loaded, first_half, sampler_name=sampler_name, add_noise="disable", start_at_step=2
    )

    torch.testing.assert_close(second_half["samples"], whole["samples"], rtol=1e-4, atol=1e-3)


def test_stopping_early_without_leftover_noise_differs(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    noisy = _advanced(
        ctx, loaded, empty_latent(ctx), end_at_step=2, return_with_leftover_noise="enable"
    )
    clean = _advanced(ctx, loaded, empty_latent(ctx), end_at_step=2)

    assert torch.isfinite(clean["samples"]).all()
    assert not torch.equal(clean["samples"], noisy["samples"])


@pytest.mark.parametrize("space", ["ve", "vp"])
@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_denoised_estimate_recovers_clean_latent(space: str, prediction: str) -> None:
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(1, 4, 8, 8, generator=generator)
    noise = torch.randn(1, 4, 8, 8, generator=generator)
    sigma = 2.5
    sample = x0 + sigma * noise
    if space == "vp":
        sample = sample / (1 + sigma**2) ** 0.5
    sqrt_alpha = 1 / (1 + sigma**2) ** 0.5
    sqrt_one_minus_alpha = sigma / (1 + sigma**2) ** 0.5
    output = noise if prediction == "epsilon" else sqrt_alpha * noise - sqrt_one_minus_alpha * x0

    estimate = _denoised(sample, output, sigma, space, prediction)

    torch.testing.assert_close(estimate, x0, rtol=1e-5, atol=1e-5)


def test_empty_step_range_returns_input(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    source = {"samples": torch.randn(1, 4, 8, 8)}

    result = _advanced(ctx, loaded, source, start_at_step=3, end_at_step=3)

    assert torch.equal(result["samples"], source["samples"])


def test_noise_mask_is_rejected(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    latent = {"samples": torch.zeros(1, 4, 8, 8), "noise_mask": torch.ones(1, 1, 64, 64)}

    try:
        ksampler(ctx, loaded, latent)
    except ValueError as exc:
        assert "noise_mask" in str(exc)
    else:
        raise AssertionError("a latent with a noise_mask was accepted")
