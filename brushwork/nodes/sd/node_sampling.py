"""CLIPTextEncode, KSampler and KSamplerAdvanced. torch is imported only when a node runs."""

from __future__ import annotations

from typing import Any

from ...engine.context import NodeContext
from ...engine.node import Input, Node, Output
from .samplers import SAMPLER_NAMES, SCHEDULER_NAMES, check_combination

MAX_SEED = 0xFFFF_FFFF_FFFF_FFFF
MAX_STEPS = 10000


class CLIPTextEncode(Node):
    class_type = "CLIPTextEncode"
    display_name = "CLIP Text Encode (Prompt)"
    category = "conditioning"
    description = (
        "Encodes a prompt with the checkpoint's text encoders into conditioning for the sampler."
    )
    inputs = (
        Input(
            "text", "STRING", multiline=True, extra={"dynamicPrompts": True}, tooltip="The prompt."
        ),
        Input("clip", "CLIP", tooltip="The text encoders to use."),
    )
    outputs = (Output("CONDITIONING", tooltip="The encoded prompt."),)
    lane = "device"

    def execute(self, ctx: NodeContext, text: str, clip: Any) -> tuple[Any, ...]:
        from .text import encode_text

        ctx.check_interrupted()
        return (encode_text(clip, text),)


def _sampler_inputs() -> tuple[Input, ...]:
    return (
        Input(
            "cfg",
            "FLOAT",
            default=8.0,
            min=0.0,
            max=100.0,
            step=0.1,
            round=0.01,
            tooltip="Classifier-free guidance scale. At 1 the negative prompt is not used.",
        ),
        Input("sampler_name", "COMBO", choices=SAMPLER_NAMES, tooltip="The sampling algorithm."),
        Input(
            "scheduler",
            "COMBO",
            choices=SCHEDULER_NAMES,
            tooltip="How noise levels are spaced over the steps.",
        ),
        Input("positive", "CONDITIONING", tooltip="What the image should contain."),
        Input("negative", "CONDITIONING", tooltip="What the image should not contain."),
        Input("latent_image", "LATENT", tooltip="The latent to denoise."),
    )


def _check_combination(constant_inputs: dict[str, Any]) -> bool | str:
    sampler_name = constant_inputs.get("sampler_name")
    scheduler = constant_inputs.get("scheduler")
    if sampler_name is None or scheduler is None:
        return True
    return check_combination(sampler_name, scheduler) or True


def _check_latent(latent: dict[str, Any]) -> None:
    if latent.get("noise_mask") is not None:
        raise ValueError(
            "latents with a noise_mask (inpainting) are not supported by brushwork's KSampler"
        )


class KSampler(Node):
    class_type = "KSampler"
    category = "sampling"
    description = "Denoises a latent with a model, guided by positive and negative conditioning."
    inputs = (
        Input("model", "MODEL", tooltip="The model that denoises."),
        Input(
            "seed",
            "INT",
            default=0,
            min=0,
            max=MAX_SEED,
            extra={"control_after_generate": True},
            tooltip="The seed of the noise.",
        ),
        Input(
            "steps",
            "INT",
            default=20,
            min=1,
            max=MAX_STEPS,
            tooltip="The number of denoising steps.",
        ),
        *_sampler_inputs(),
        Input(
            "denoise",
            "FLOAT",
            default=1.0,
            min=0.0,
            max=1.0,
            step=0.01,
            tooltip="How much of the latent to replace with noise. "
            "Below 1 keeps part of the input (img2img).",
        ),
    )
    outputs = (Output("LATENT", tooltip="The denoised latent."),)
    lane = "device"

    @classmethod
    def validate_inputs(cls, **constant_inputs: Any) -> bool | str:
        return _check_combination(constant_inputs)

    def execute(
        self,
        ctx: NodeContext,
        model: Any,
        seed: int,
        steps: int,
        cfg: float,
        sampler_name: str,
        scheduler: str,
        positive: Any,
        negative: Any,
        latent_image: dict[str, Any],
        denoise: float,
    ) -> tuple[Any, ...]:
        from .sampling import ksampler_range, sample

        _check_latent(latent_image)
        ctx.check_interrupted()
        step_range = ksampler_range(steps, denoise)
        if step_range is None:
            return ({**latent_image},)
        samples = sample(
            model,
            seed=seed,
            cfg=cfg,
            sampler_name=sampler_name,
            scheduler=scheduler,
            positive=positive,
            negative=negative,
            latent=latent_image["samples"],
            steps=step_range,
            add_noise=True,
            progress=ctx.progress,
        )
        return ({**latent_image, "samples": samples},)


class KSamplerAdvanced(Node):
    class_type = "KSamplerAdvanced"
    display_name = "KSampler (Advanced)"
    category = "sampling"
    description = "Runs part of a denoising schedule, so that several samplers can share one image."
    inputs = (
        Input("model", "MODEL", tooltip="The model that denoises."),
        Input(
            "add_noise",
            "COMBO",
            choices=["enable", "disable"],
            tooltip="Whether to add the seed's noise first.",
        ),
        Input(
            "noise_seed",
            "INT",
            default=0,
            min=0,
            max=MAX_SEED,
            extra={"control_after_generate": True},
            tooltip="The seed of the noise.",
        ),
        Input(
            "steps",
            "INT",
            default=20,
            min=1,
            max=MAX_STEPS,
            tooltip="The steps of the whole schedule.",
        ),
        *_sampler_inputs(),
        Input(
            "start_at_step",
            "INT",
            default=0,
            min=0,
            max=MAX_STEPS,
            tooltip="The first step to run.",
        ),
        Input(
            "end_at_step",
            "INT",
            default=MAX_STEPS,
            min=0,
            max=MAX_STEPS,
            tooltip="The step to stop before. Values past the schedule run it to the end.",
        ),
        Input(
            "return_with_leftover_noise",
            "COMBO",
            choices=["disable", "enable"],
            tooltip="Whether to return the latent with the noise left at end_at_step.",
        ),
    )
    outputs = (Output("LATENT", tooltip="The latent after the chosen steps."),)
    lane = "device"

    @classmethod
    def validate_inputs(cls, **constant_inputs: Any) -> bool | str:
        return _check_combination(constant_inputs)

    def execute(
        self,
        ctx: NodeContext,
        model: Any,
        add_noise: str,
        noise_seed: int,
        steps: int,
        cfg: float,
        sampler_name: str,
        scheduler: str,
        positive: Any,
        negative: Any,
        latent_image: dict[str, Any],
        start_at_step: int,
        end_at_step: int,
        return_with_leftover_noise: str,
    ) -> tuple[Any, ...]:
        from .sampling import advanced_range, sample

        _check_latent(latent_image)
        ctx.check_interrupted()
        step_range = advanced_range(
            steps, start_at_step, end_at_step, return_with_leftover_noise == "enable"
        )
        if step_range is None:
            return ({**latent_image},)
        samples = sample(
            model,
            seed=noise_seed,
            cfg=cfg,
            sampler_name=sampler_name,
            scheduler=scheduler,
            positive=positive,
            negative=negative,
            latent=latent_image["samples"],
            steps=step_range,
            add_noise=add_noise == "enable",
            progress=ctx.progress,
        )
        return ({**latent_image, "samples": samples},)
