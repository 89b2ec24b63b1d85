"""The denoising loop behind KSampler and KSamplerAdvanced, on diffusers schedulers.

Conventions follow ComfyUI so that LATENT values move between nodes
unchanged. A LATENT contains the VAE's raw latent: the loop multiplies it by
the model's scaling factor on the way in and divides on the way out. A
latent with leftover noise is ``x0 + sigma * noise`` (the "ve" form). Each
diffusers class keeps its samples in its own form ("ve" or "vp", see
samplers.py), so the loop converts at both ends.

Seeding follows ComfyUI. The initial noise comes from a CPU generator seeded
with the seed, so it is the same on every device. The noise that a sampler
adds at each step comes from a generator on the device seeded with the same
seed, except for dpmpp_sde, whose diffusers class seeds its own Brownian tree.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import diffusers
import torch

from .models import SDModel
from .samplers import SAMPLERS, SCHEDULES, SamplerSpec, check_combination

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class StepRange:
    """The steps to run of a ``total``-step schedule: ``start`` up to, not including, ``end``."""

    total: int
    start: int
    end: int
    # Whether the last step jumps straight to the denoised prediction when the
    # range stops before the end of the schedule (ComfyUI's force_full_denoise).
    force_full_denoise: bool


def ksampler_range(steps: int, denoise: float) -> StepRange | None:
    """Return the steps that KSampler runs, or None when denoise is 0 (nothing to do).

    With denoise below 1, ComfyUI builds a schedule of ``int(steps / denoise)``
    steps and runs its last ``steps``.
    """
    if denoise <= 0:
        return None
    total = steps if denoise > 0.9999 else int(steps / denoise)
    return StepRange(total, total - steps, total, force_full_denoise=False)


def advanced_range(
    steps: int, start_at_step: int, end_at_step: int, leftover_noise: bool
) -> StepRange | None:
    """Return the steps that KSamplerAdvanced runs, or None when the range is empty."""
    end = min(end_at_step, steps)
    if start_at_step >= end:
        return None
    return StepRange(steps, start_at_step, end, force_full_denoise=not leftover_noise)


def build_scheduler(
    model: SDModel, sampler_name: str, scheduler: str, seed: int
) -> tuple[Any, SamplerSpec]:
    """Create the diffusers scheduler for a ComfyUI sampler and scheduler name."""
    error = check_combination(sampler_name, scheduler)
    if error:
        raise ValueError(error)
    spec = SAMPLERS[sampler_name]
    scheduler_class = getattr(diffusers, spec.scheduler_class)
    config: dict[str, Any] = {
        **model.checkpoint.scheduler_config,
        # Latents are not bounded to [-1, 1], so DDIM and DDPM must not clip
        # their x0 estimate. The last DDIM step lands on alphas_cumprod[0].
        "clip_sample": False,
        "set_alpha_to_one": False,
        **SCHEDULES[scheduler].options,
        **spec.options,
    }
    if spec.seed_option:
        config[spec.seed_option] = seed
    accepted = inspect.signature(scheduler_class.__init__).parameters
    return scheduler_class(**{key: value for key, value in config.items() if key in accepted}), spec


def _sigma_at(scheduler: Any, step: int) -> float:
    """Return the noise level (ve sigma) at the start of ``step``, or the final one past the end."""
    index = step * scheduler.order
    sigmas = getattr(scheduler, "sigmas", None)
    if sigmas is not None:
        return float(sigmas[min(index, len(sigmas) - 1)])
    alphas = scheduler.alphas_cumprod
    if index < len(scheduler.timesteps):
        alpha = float(alphas[int(scheduler.timesteps[index])])
    else:
        final = getattr(scheduler, "final_alpha_cumprod", None)
        alpha = 1.0 if final is None else float(final)
    return math.sqrt((1 - alpha) / alpha)


def _max_sigma(scheduler: Any) -> float:
    alpha = float(scheduler.alphas_cumprod[-1])
    return math.sqrt((1 - alpha) / alpha)


def _denoised(
    sample: torch.Tensor, output: torch.Tensor, sigma: float, space: str, prediction: str
) -> torch.Tensor:
    """Return the model's x0 estimate from its output at noise level ``sigma``."""
    scale = math.sqrt(1 + sigma**2)
    x_vp = sample / scale if space == "ve" else sample
    sqrt_alpha = 1 / scale
    sqrt_one_minus_alpha = sigma / scale
    if prediction == "v_prediction":
        return sqrt_alpha * x_vp - sqrt_one_minus_alpha * output
    return (x_vp - sqrt_one_minus_alpha * output) / sqrt_alpha


@dataclass
class _Condition:
    context: torch.Tensor  # [1, tokens, width]
    added: dict[str, torch.Tensor] | None  # SDXL's text_embeds and time_ids, batch 1
    weight: float


def _conditions(
    conditioning: list[list[Any]], model: SDModel, latent_shape: torch.Size, dtype: torch.dtype
) -> list[_Condition]:
    device = model.checkpoint.device
    downscale = model.checkpoint.vae_downscale
    height, width = latent_shape[-2] * downscale, latent_shape[-1] * downscale
    sdxl = model.checkpoint.unet_config.get("addition_embed_type") == "text_time"
    result = []
    for tensor, options in conditioning:
        for unsupported in ("area", "mask", "control", "gligen", "hooks"):
            if options.get(unsupported) is not None:
                raise ValueError(
                    f"conditioning option {unsupported!r} is not supported by brushwork's KSampler"
                )
        added = None
        if sdxl:
            pooled = options.get("pooled_output")
            if pooled is None:
                raise ValueError(
                    "SDXL needs conditioning with a pooled output: "
                    "encode the prompt with this checkpoint's CLIP"
                )
            size = [
                options.get("height", height),
                options.get("width", width),
                options.get("crop_h", 0),
                options.get("crop_w", 0),
                options.get("target_height", options.get("height", height)),
                options.get("target_width", options.get("width", width)),
            ]
            added = {
                "text_embeds": pooled.to(device=device, dtype=dtype),
                "time_ids": torch.tensor([size], device=device, dtype=dtype),
            }
        result.append(
            _Condition(
                tensor.to(device=device, dtype=dtype), added, float(options.get("strength", 1.0))
            )
        )
    if not result:
        raise ValueError("conditioning is empty")
    return result


def _predict(
    unet: Any, sample: torch.Tensor, timestep: Any, conditions: list[_Condition]
) -> list[torch.Tensor]:
    """Run the UNet once per condition, batching the conditions whose shapes match."""
    batch = sample.shape[0]
    same_shape = len({cond.context.shape for cond in conditions}) == 1
    groups = [conditions] if same_shape else [[cond] for cond in conditions]
    outputs: list[torch.Tensor] = []
    for group in groups:
        x = sample.repeat(len(group), 1, 1, 1)
        context = torch.cat([cond.context.expand(batch, -1, -1) for cond in group])
        added = None
        if group[0].added is not None:
            added = {
                key: torch.cat([_added(cond, key).expand(batch, -1) for cond in group])
                for key in group[0].added
            }
        output = unet(x, timestep, encoder_hidden_states=context, added_cond_kwargs=added).sample
        outputs.extend(output.float().chunk(len(group)))
    return outputs


def _added(cond: _Condition, key: str) -> torch.Tensor:
    assert cond.added is not None
    return cond.added[key]


def _weighted(predictions: list[torch.Tensor], conditions: list[_Condition]) -> torch.Tensor:
    """Average the predictions of several conditions by their strength."""
    if len(predictions) == 1:
        return predictions[0]
    weights = torch.tensor([cond.weight for cond in conditions], device=predictions[0].device)
    stacked = torch.stack(predictions)
    return (stacked * weights.view(-1, 1, 1, 1, 1)).sum(0) / weights.sum()


def sample(
    model: SDModel,
    *,
    seed: int,
    cfg: float,
    sampler_name: str,
    scheduler: str,
    positive: list[list[Any]],
    negative: list[list[Any]],
    latent: torch.Tensor,
    steps: StepRange,
    add_noise: bool,
    progress: ProgressCallback,
) -> torch.Tensor:
    """Denoise a LATENT's samples and return the new samples (float32, on the CPU)."""
    checkpoint = model.checkpoint
    diffusion, spec = build_scheduler(model, sampler_name, scheduler, seed)
    try:
        diffusion.set_timesteps(steps.total, device=checkpoint.device)
    except ValueError as exc:
        raise ValueError(
            f"sampler {sampler_name} cannot run a {steps.total}-step schedule: {exc}"
        ) from None
    if hasattr(diffusion, "set_begin_index"):
        diffusion.set_begin_index(steps.start * diffusion.order)
    x = _initial_sample(model, diffusion, spec, latent, seed, steps.start, add_noise)

    with model.unet() as unet:
        dtype = next(unet.parameters()).dtype
        cond_positive = _conditions(positive, model, latent.shape, dtype)
        cond_negative = _conditions(negative, model, latent.shape, dtype) if cfg != 1.0 else []
        x, jumped = _run_steps(
            unet,
            diffusion,
            spec,
            checkpoint.prediction_type,
            x,
            steps,
            cfg,
            cond_positive,
            cond_negative,
            _step_kwargs(diffusion, checkpoint.device, seed),
            progress,
        )

    sigma_end = 0.0 if jumped else _sigma_at(diffusion, steps.end)
    if spec.space == "vp":
        x = x * math.sqrt(1 + sigma_end**2)
    return (x / checkpoint.vae_scaling_factor).float().cpu()


def _initial_sample(
    model: SDModel,
    diffusion: Any,
    spec: SamplerSpec,
    latent: torch.Tensor,
    seed: int,
    start: int,
    add_noise: bool,
) -> torch.Tensor:
    """Return the scaled latent plus the seed's noise at the noise level of ``start``."""
    device = model.checkpoint.device
    clean = latent.to(device=device, dtype=torch.float32) * model.checkpoint.vae_scaling_factor
    if not add_noise:
        noise = torch.zeros_like(clean)
    else:
        generator = torch.Generator("cpu").manual_seed(seed)
        noise = torch.randn(latent.shape, generator=generator, dtype=torch.float32).to(device)

    sigma = _sigma_at(diffusion, start)
    # ComfyUI scales the noise by sqrt(1 + sigma^2) when the schedule starts
    # at the model's highest noise level, so the sample has unit variance.
    max_denoise = sigma >= _max_sigma(diffusion) * (1 - 1e-5)
    noise_scale = math.sqrt(1 + sigma**2) if max_denoise else sigma
    x = clean + noise * noise_scale
    if spec.space == "vp":
        x = x / math.sqrt(1 + sigma**2)
    return x


def _step_kwargs(diffusion: Any, device: torch.device, seed: int) -> dict[str, Any]:
    """Return the generator for the per-step noise, for the classes whose step takes one."""
    if "generator" not in inspect.signature(diffusion.step).parameters:
        return {}
    return {"generator": torch.Generator(device).manual_seed(seed)}


def _run_steps(
    unet: Any,
    diffusion: Any,
    spec: SamplerSpec,
    prediction: str,
    x: torch.Tensor,
    steps: StepRange,
    cfg: float,
    positive: list[_Condition],
    negative: list[_Condition],
    step_kwargs: dict[str, Any],
    progress: ProgressCallback,
) -> tuple[torch.Tensor, bool]:
    """Run the scheduler over the step range.

    Returns the sample and whether the last step jumped to the x0 estimate.
    """
    dtype = next(unet.parameters()).dtype
    timesteps = diffusion.timesteps
    order = diffusion.order
    jump_at_end = steps.force_full_denoise and steps.end < steps.total
    run = steps.end - steps.start
    with torch.no_grad():
        for step in range(steps.start, steps.end):
            for index in range(step * order, min((step + 1) * order, len(timesteps))):
                t = timesteps[index]
                model_input = diffusion.scale_model_input(x, t).to(dtype)
                predictions = _predict(unet, model_input, t, [*positive, *negative])
                guided = _weighted(predictions[: len(positive)], positive)
                if negative:
                    uncond = _weighted(predictions[len(positive) :], negative)
                    guided = uncond + cfg * (guided - uncond)
                if jump_at_end and step == steps.end - 1:
                    sigma = _sigma_at(diffusion, step)
                    progress(run, run)
                    return _denoised(x, guided, sigma, spec.space, prediction), True
                x = diffusion.step(guided, t, x, **step_kwargs).prev_sample
            progress(step - steps.start + 1, run)
    return x, False
