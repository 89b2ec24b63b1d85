"""The ComfyUI sampler and scheduler names that brushwork implements, and their diffusers classes.

A ComfyUI sampler name picks a diffusers scheduler class and its solver
options; a ComfyUI scheduler name picks how that class spaces its noise
levels. docs/models.md lists the mapping with its differences from ComfyUI.
This module only names classes, so it does not import torch or diffusers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SamplerSpec:
    """A diffusers scheduler class and the options that make it one ComfyUI sampler."""

    scheduler_class: str
    options: dict[str, Any] = field(default_factory=dict)
    # "ve" when the class keeps samples as x0 + sigma * noise (k-diffusion
    # form), "vp" when it keeps sqrt(alpha) * x0 + sqrt(1 - alpha) * noise.
    space: str = "ve"
    # Whether the class takes use_karras_sigmas and use_exponential_sigmas.
    sigma_schedules: bool = True
    # An option that takes the seed, for classes that seed their own noise.
    seed_option: str | None = None


# Ordered as in ComfyUI's KSampler list.
SAMPLERS: dict[str, SamplerSpec] = {
    "euler": SamplerSpec("EulerDiscreteScheduler"),
    "euler_ancestral": SamplerSpec("EulerAncestralDiscreteScheduler", sigma_schedules=False),
    "heun": SamplerSpec("HeunDiscreteScheduler"),
    "dpm_2": SamplerSpec("KDPM2DiscreteScheduler"),
    "dpm_2_ancestral": SamplerSpec("KDPM2AncestralDiscreteScheduler"),
    "lms": SamplerSpec("LMSDiscreteScheduler"),
    "dpmpp_sde": SamplerSpec("DPMSolverSDEScheduler", seed_option="noise_sampler_seed"),
    "dpmpp_2m": SamplerSpec(
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "dpmsolver++", "solver_order": 2},
        space="vp",
    ),
    "dpmpp_2m_sde": SamplerSpec(
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 2, "solver_type": "midpoint"},
        space="vp",
    ),
    "dpmpp_3m_sde": SamplerSpec(
        "DPMSolverMultistepScheduler",
        {"algorithm_type": "sde-dpmsolver++", "solver_order": 3},
        space="vp",
    ),
    "ddpm": SamplerSpec("DDPMScheduler", space="vp", sigma_schedules=False),
    "deis": SamplerSpec("DEISMultistepScheduler", space="vp"),
    "ddim": SamplerSpec("DDIMScheduler", space="vp", sigma_schedules=False),
    # NOTE: with bh1, diffusers 0.42 computes NaN on a step to sigma 0, so this
    # sampler stops at the schedule's smallest sigma (about 0.03) instead.
    "uni_pc": SamplerSpec(
        "UniPCMultistepScheduler",
        {"solver_type": "bh1", "final_sigmas_type": "sigma_min"},
        space="vp",
    ),
    "uni_pc_bh2": SamplerSpec("UniPCMultistepScheduler", {"solver_type": "bh2"}, space="vp"),
}


@dataclass(frozen=True)
class ScheduleSpec:
    """The diffusers options that produce one ComfyUI noise schedule."""

    options: dict[str, Any]
    needs_sigma_schedules: bool = False


# Ordered as in ComfyUI's scheduler list.
SCHEDULES: dict[str, ScheduleSpec] = {
    # Timesteps 999, 999 - 1000/n, ...: ComfyUI's "simple" picks the same ones.
    "simple": ScheduleSpec({"timestep_spacing": "trailing"}),
    "karras": ScheduleSpec(
        {"timestep_spacing": "linspace", "use_karras_sigmas": True}, needs_sigma_schedules=True
    ),
    "exponential": ScheduleSpec(
        {"timestep_spacing": "linspace", "use_exponential_sigmas": True}, needs_sigma_schedules=True
    ),
    # Timesteps 1, 1 + 1000//n, ... reversed, as ComfyUI's "ddim_uniform".
    "ddim_uniform": ScheduleSpec({"timestep_spacing": "leading", "steps_offset": 1}),
    # Timesteps evenly spaced from 999 down to 0, as ComfyUI's "normal".
    "normal": ScheduleSpec({"timestep_spacing": "linspace"}),
}

SAMPLER_NAMES = list(SAMPLERS)
SCHEDULER_NAMES = list(SCHEDULES)


def check_combination(sampler_name: str, scheduler: str) -> str | None:
    """Return an error message when the sampler cannot use the scheduler, else None."""
    sampler = SAMPLERS.get(sampler_name)
    if sampler is None:
        return f"unknown sampler {sampler_name!r}: choose one of {', '.join(SAMPLER_NAMES)}"
    schedule = SCHEDULES.get(scheduler)
    if schedule is None:
        return f"unknown scheduler {scheduler!r}: choose one of {', '.join(SCHEDULER_NAMES)}"
    if schedule.needs_sigma_schedules and not sampler.sigma_schedules:
        usable = [name for name, spec in SCHEDULES.items() if not spec.needs_sigma_schedules]
        return (
            f"sampler {sampler_name} does not support the {scheduler} scheduler "
            f"(its diffusers class {sampler.scheduler_class} has no such option). "
            f"Use one of {', '.join(usable)}"
        )
    return None
