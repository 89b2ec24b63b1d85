"""CheckpointLoaderSimple and LoraLoader. torch is imported only when a node runs."""

from __future__ import annotations

from typing import Any

from ...engine.context import NodeContext
from ...engine.node import Input, Node, Output
from .architectures import UnsupportedCheckpointError, check_checkpoint, check_lora_file
from .files import checkpoint_names, lora_names, resolve_checkpoint, resolve_lora


class CheckpointLoaderSimple(Node):
    class_type = "CheckpointLoaderSimple"
    display_name = "Load Checkpoint"
    category = "loaders"
    description = (
        "Loads a Stable Diffusion 1.x, 2.x or XL checkpoint: a .safetensors file in the original "
        "layout or a diffusers folder."
    )
    inputs = (
        Input("ckpt_name", "COMBO", choices=checkpoint_names, tooltip="The checkpoint to load."),
    )
    outputs = (
        Output("MODEL", tooltip="The UNet that denoises latents."),
        Output("CLIP", tooltip="The text encoders that turn prompts into conditioning."),
        Output("VAE", tooltip="The autoencoder between images and latents."),
    )
    lane = "device"

    @classmethod
    def validate_inputs(cls, **constant_inputs: Any) -> bool | str:
        name = constant_inputs.get("ckpt_name")
        if name is None:
            return True
        try:
            check_checkpoint(resolve_checkpoint(name))
        except FileNotFoundError as exc:
            return str(exc)
        except UnsupportedCheckpointError as exc:
            return f"{name}: {exc}"
        except OSError as exc:
            return f"{name}: cannot read the checkpoint: {exc}"
        return True

    @classmethod
    def fingerprint(cls, ctx: NodeContext | None, **constant_inputs: Any) -> Any:
        name = constant_inputs.get("ckpt_name")
        try:
            stat = resolve_checkpoint(name).stat() if name else None
        except FileNotFoundError:
            return None
        return None if stat is None else (stat.st_mtime_ns, stat.st_size)

    def execute(self, ctx: NodeContext, ckpt_name: str) -> tuple[Any, ...]:
        from .models import SDClip, SDModel, SDVae, open_checkpoint

        checkpoint = open_checkpoint(resolve_checkpoint(ckpt_name), ctx.device, name=ckpt_name)
        # Load every component now, so that a broken file fails in this node.
        # A component unloaded later for memory reloads when it is used.
        for slot in checkpoint.slots():
            ctx.check_interrupted()
            with slot.use():
                pass
        ctx.log.info(
            "checkpoint ready",
            checkpoint=ckpt_name,
            arch=checkpoint.arch,
            device=str(checkpoint.device),
        )
        return (SDModel(checkpoint), SDClip(checkpoint), SDVae(checkpoint))


class LoraLoader(Node):
    class_type = "LoraLoader"
    display_name = "Load LoRA"
    category = "loaders"
    description = "Applies a LoRA to a model and its text encoders."
    inputs = (
        Input("model", "MODEL", tooltip="The model the LoRA applies to."),
        Input("clip", "CLIP", tooltip="The text encoders the LoRA applies to."),
        Input(
            "lora_name", "COMBO", choices=lora_names, tooltip="The LoRA file under models/loras."
        ),
        Input(
            "strength_model",
            "FLOAT",
            default=1.0,
            min=-100.0,
            max=100.0,
            step=0.01,
            tooltip="How strongly to change the UNet. 0 leaves it unchanged.",
        ),
        Input(
            "strength_clip",
            "FLOAT",
            default=1.0,
            min=-100.0,
            max=100.0,
            step=0.01,
            tooltip="How strongly to change the text encoders. 0 leaves them unchanged.",
        ),
    )
    outputs = (Output("MODEL"), Output("CLIP"))
    lane = "device"

    @classmethod
    def validate_inputs(cls, **constant_inputs: Any) -> bool | str:
        name = constant_inputs.get("lora_name")
        if name is None:
            return True
        try:
            check_lora_file(resolve_lora(name))
        except (FileNotFoundError, UnsupportedCheckpointError) as exc:
            return str(exc)
        except OSError as exc:
            return f"{name}: cannot read the LoRA file: {exc}"
        return True

    @classmethod
    def fingerprint(cls, ctx: NodeContext | None, **constant_inputs: Any) -> Any:
        name = constant_inputs.get("lora_name")
        try:
            stat = resolve_lora(name).stat() if name else None
        except FileNotFoundError:
            return None
        return None if stat is None else (stat.st_mtime_ns, stat.st_size)

    def execute(
        self,
        ctx: NodeContext,
        model: Any,
        clip: Any,
        lora_name: str,
        strength_model: float,
        strength_clip: float,
    ) -> tuple[Any, ...]:
        from .lora import read_lora
        from .models import LoraPatch

        if strength_model == 0 and strength_clip == 0:
            return (model, clip)
        path = resolve_lora(lora_name)
        lora = read_lora(path)
        if lora.unsupported_keys:
            ctx.log.warning(
                "lora keys in unsupported formats are ignored",
                lora=lora_name,
                count=len(lora.unsupported_keys),
                examples=list(lora.unsupported_keys[:3]),
            )
        stat = path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        if strength_model != 0:
            model = model.with_patch(LoraPatch(str(path), float(strength_model), stamp))
        if strength_clip != 0:
            clip = clip.with_patch(LoraPatch(str(path), float(strength_clip), stamp))
        return (model, clip)
