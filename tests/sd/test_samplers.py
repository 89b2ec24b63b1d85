"""Every listed sampler with every scheduler it supports, and the combinations it rejects."""

from __future__ import annotations

import math

import pytest
import torch

from brushwork.nodes.sd import KSampler, KSamplerAdvanced
from brushwork.nodes.sd.samplers import (
    SAMPLER_NAMES,
    SAMPLERS,
    SCHEDULER_NAMES,
    SCHEDULES,
    check_combination,
)
from brushwork.nodes.sd.sampling import build_scheduler
from tests.sd.conftest import SdData
from tests.sd.graph import decode, empty_latent, ksampler, load

SUPPORTED = [
    (sampler, scheduler)
    for sampler in SAMPLER_NAMES
    for scheduler in SCHEDULER_NAMES
    if check_combination(sampler, scheduler) is None
]
REJECTED = [
    (sampler, scheduler)
    for sampler in SAMPLER_NAMES
    for scheduler in SCHEDULER_NAMES
    if check_combination(sampler, scheduler) is not None
]


@pytest.fixture(scope="module")
def loaded(sd_data: SdData, make_context_module):
    return load(make_context_module(), sd_data.file_name("sd1"))


@pytest.fixture(scope="module")
def make_context_module(sd_data: SdData):
    from brushwork.engine.artifacts import ArtifactStore
    from brushwork.engine.context import InterruptFlag, NodeContext

    def factory() -> NodeContext:
        return NodeContext(
            prompt_id="p",
            node_id="3",
            class_type="KSampler",
            attempt=1,
            paths=sd_data.paths,
            artifacts=ArtifactStore(sd_data.paths.artifacts),
            prompt={},
            extra_data={},
            interrupt=InterruptFlag(),
            device="cpu",
        )

    return factory


def test_every_sampler_supports_normal_and_simple() -> None:
    for sampler in SAMPLER_NAMES:
        assert check_combination(sampler, "normal") is None
        assert check_combination(sampler, "simple") is None


@pytest.mark.parametrize(("sampler_name", "scheduler"), SUPPORTED)
def test_combination_gives_finite_image(
    loaded, make_context_module, sampler_name: str, scheduler: str
) -> None:
    ctx = make_context_module()
    latent = ksampler(
        ctx, loaded, empty_latent(ctx), sampler_name=sampler_name, scheduler=scheduler, steps=3
    )
    image = decode(ctx, loaded, latent)

    assert torch.isfinite(latent["samples"]).all()
    assert torch.isfinite(image).all()
    assert image.std() > 0


@pytest.mark.parametrize("sampler_name", SAMPLER_NAMES)
def test_img2img_partial_schedule_is_finite(loaded, make_context_module, sampler_name: str) -> None:
    ctx = make_context_module()
    start = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    latent = ksampler(
        ctx, loaded, {"samples": start}, sampler_name=sampler_name, steps=3, denoise=0.5
    )

    assert torch.isfinite(latent["samples"]).all()
    assert not torch.equal(latent["samples"], start)


@pytest.mark.parametrize(("sampler_name", "scheduler"), REJECTED)
def test_unsupported_combination_fails_validation(sampler_name: str, scheduler: str) -> None:
    for node in (KSampler, KSamplerAdvanced):
        message = node.validate_inputs(sampler_name=sampler_name, scheduler=scheduler)

        assert isinstance(message, str)
        assert sampler_name in message
        assert scheduler in message


def test_unknown_names_fail_validation() -> None:
    assert "unknown sampler" in str(
        KSampler.validate_inputs(sampler_name="dpm_fast", scheduler="normal")
    )
    assert "unknown scheduler" in str(
        KSampler.validate_inputs(sampler_name="euler", scheduler="beta")
    )


def test_combo_lists_are_the_implemented_names() -> None:
    info = KSampler.object_info()["input"]["required"]

    assert info["sampler_name"][0] == list(SAMPLERS)
    assert info["scheduler"][0] == list(SCHEDULES)


def test_ancestral_sampler_is_deterministic(loaded, make_context_module) -> None:
    ctx = make_context_module()
    first = ksampler(ctx, loaded, empty_latent(ctx), sampler_name="dpmpp_sde", steps=3)
    second = ksampler(ctx, loaded, empty_latent(ctx), sampler_name="dpmpp_sde", steps=3)

    assert torch.equal(first["samples"], second["samples"])


def _training_sigmas() -> torch.Tensor:
    betas = torch.linspace(0.00085**0.5, 0.012**0.5, 1000, dtype=torch.float64) ** 2
    alphas = torch.cumprod(1 - betas, 0)
    return ((1 - alphas) / alphas) ** 0.5


def test_karras_and_exponential_follow_comfyui_formulas(loaded) -> None:
    sigmas = _training_sigmas()
    low, high = float(sigmas[0]), float(sigmas[-1])
    ramp = torch.linspace(0, 1, 5, dtype=torch.float64)
    rho = 7.0
    karras = (high ** (1 / rho) + ramp * (low ** (1 / rho) - high ** (1 / rho))) ** rho
    exponential = torch.exp(torch.linspace(math.log(high), math.log(low), 5, dtype=torch.float64))

    for scheduler, expected in (("karras", karras), ("exponential", exponential)):
        diffusion, _spec = build_scheduler(loaded.model, "euler", scheduler, seed=0)
        diffusion.set_timesteps(5)

        torch.testing.assert_close(diffusion.sigmas[:5].double(), expected, rtol=1e-3, atol=1e-4)
        assert float(diffusion.sigmas[5]) == 0.0


@pytest.mark.parametrize(
    ("scheduler", "timesteps"),
    [
        ("simple", [999, 799, 599, 399, 199]),
        ("normal", [999.0, 749.25, 499.5, 249.75, 0.0]),
        ("ddim_uniform", [801, 601, 401, 201, 1]),
    ],
)
def test_timestep_spacing_matches_comfyui(loaded, scheduler: str, timesteps: list[float]) -> None:
    diffusion, _spec = build_scheduler(loaded.model, "euler", scheduler, seed=0)
    diffusion.set_timesteps(5)

    assert diffusion.timesteps.tolist() == pytest.approx(timesteps)
