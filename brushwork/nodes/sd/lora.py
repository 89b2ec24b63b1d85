"""LoRA files: parsing, matching layers by name, and merging into loaded weights.

Supported key formats (the two that cover most published SD LoRAs):

* kohya-ss: ``lora_unet_<module>`` and ``lora_te_``/``lora_te1_``/``lora_te2_<module>``
  with ``.lora_down.weight``, ``.lora_up.weight`` and an optional ``.alpha``.
  ``<module>`` is a diffusers or an original-layout UNet path, or a
  transformers CLIP path, with dots written as underscores.
* diffusers/PEFT: ``unet.<module>``, ``text_encoder.<module>`` and
  ``text_encoder_2.<module>`` with ``.lora_A.weight`` and ``.lora_B.weight``.

A patch adds ``strength * alpha / rank * up @ down`` to a layer's weight.
Patches are merged into the shared module when a node uses it. The changed
weights are backed up on the CPU first and copied back before another patch
set is applied, so a model without LoRA gives the same bytes as before.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
import torch
from safetensors.torch import load_file

from .layout import unet_module_to_ldm

if TYPE_CHECKING:
    from .memory import ModuleSlot
    from .models import LoadedCheckpoint, LoraPatch

log = structlog.get_logger("brushwork.nodes.sd")

_SUFFIXES = {
    ".lora_down.weight": "down",
    ".lora_up.weight": "up",
    ".lora_A.weight": "down",
    ".lora_B.weight": "up",
    ".alpha": "alpha",
}
_UNET_PREFIXES = ("lora_unet_", "unet.", "diffusion_model.", "model.diffusion_model.")
_TEXT_PREFIXES = ("lora_te_", "lora_te1_", "lora_te2_", "text_encoder.", "text_encoder_2.")


@dataclass
class LoraLayer:
    """The low-rank factors of one layer."""

    down: torch.Tensor | None = None
    up: torch.Tensor | None = None
    alpha: float | None = None

    def delta(self, shape: torch.Size, device: torch.device) -> torch.Tensor:
        """Return ``alpha / rank * up @ down`` in float32, shaped like the weight."""
        assert self.down is not None and self.up is not None
        rank = self.down.shape[0]
        scale = (self.alpha if self.alpha is not None else rank) / rank
        up = self.up.to(device=device, dtype=torch.float32).reshape(self.up.shape[0], rank)
        down = self.down.to(device=device, dtype=torch.float32).reshape(rank, -1)
        product = up @ down
        if product.numel() != shape.numel():
            raise ValueError(
                f"LoRA layer of shape {tuple(product.shape)} "
                f"does not fit a weight of shape {tuple(shape)}"
            )
        return product.reshape(shape) * scale


@dataclass(frozen=True)
class LoraFile:
    """A parsed LoRA file: its layers by module key, and keys of unsupported formats."""

    layers: dict[str, LoraLayer]
    unsupported_keys: tuple[str, ...]


def read_lora(path: Path) -> LoraFile:
    """Parse a LoRA file, cached by path, size and modification time."""
    stat = path.stat()
    return _read_lora_cached(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _read_lora_cached(path: str, _mtime_ns: int, _size: int) -> LoraFile:
    tensors = load_file(path, device="cpu")
    layers: dict[str, LoraLayer] = defaultdict(LoraLayer)
    unsupported: list[str] = []
    for key, tensor in tensors.items():
        for suffix, kind in _SUFFIXES.items():
            if key.endswith(suffix):
                layer = layers[key[: -len(suffix)]]
                if kind == "alpha":
                    layer.alpha = float(tensor.float().item())
                else:
                    setattr(layer, kind, tensor)
                break
        else:
            unsupported.append(key)
    complete = {
        key: layer
        for key, layer in layers.items()
        if layer.down is not None and layer.up is not None
    }
    unsupported.extend(key for key in layers if key not in complete)
    if not complete:
        raise ValueError(
            f"{Path(path).name} has no LoRA layers in a supported format "
            "(kohya lora_down/lora_up or PEFT lora_A/lora_B keys)"
        )
    return LoraFile(complete, tuple(unsupported))


def clear_lora_cache() -> None:
    _read_lora_cached.cache_clear()


def _weighted_modules(module: torch.nn.Module) -> list[str]:
    return [
        name
        for name, child in module.named_modules()
        if name and isinstance(getattr(child, "weight", None), torch.nn.Parameter)
    ]


def unet_aliases(module: torch.nn.Module, unet_config: dict) -> dict[str, str]:
    """Map every LoRA spelling of a UNet layer to its diffusers module name."""
    layers_per_block = unet_config["layers_per_block"]
    up_attention = ["CrossAttn" in block_type for block_type in unet_config["up_block_types"]]
    aliases: dict[str, str] = {}
    for name in _weighted_modules(module):
        aliases["lora_unet_" + name.replace(".", "_")] = name
        aliases["unet." + name] = name
        try:
            ldm = unet_module_to_ldm(name, layers_per_block, up_attention)
        except KeyError:
            continue
        aliases["lora_unet_" + ldm.replace(".", "_")] = name
        aliases["diffusion_model." + ldm] = name
        aliases["model.diffusion_model." + ldm] = name
    return aliases


def text_encoder_aliases(module: torch.nn.Module, index: int, encoder_count: int) -> dict[str, str]:
    """Map every LoRA spelling of a text-encoder layer to its transformers module name."""
    # kohya names the only text encoder lora_te_ and SDXL's two lora_te1_ and lora_te2_.
    kohya = ["lora_te_", "lora_te1_"] if encoder_count == 1 else [f"lora_te{index + 1}_"]
    diffusers = "text_encoder." if index == 0 else f"text_encoder_{index + 1}."
    aliases: dict[str, str] = {}
    for name in _weighted_modules(module):
        canonical = name if name.startswith("text_model.") else "text_model." + name
        for prefix in kohya:
            aliases[prefix + canonical.replace(".", "_")] = name
        aliases[diffusers + canonical] = name
        aliases[diffusers + canonical.removeprefix("text_model.")] = name
    return aliases


def _component_keys(lora: LoraFile, component: str) -> list[str]:
    prefixes = _UNET_PREFIXES if component == "unet" else _TEXT_PREFIXES
    return [key for key in lora.layers if key.startswith(prefixes)]


def restore_weights(slot: ModuleSlot, module: torch.nn.Module) -> None:
    """Copy the backed-up original weights back into the module."""
    with torch.no_grad():
        for name, original in slot.weight_backups.items():
            module.get_submodule(name).weight.copy_(original)
    slot.weight_backups = {}
    slot.applied_patches = ()


def apply_patches(
    slot: ModuleSlot,
    module: torch.nn.Module,
    patches: tuple[LoraPatch, ...],
    component: str,
    checkpoint: LoadedCheckpoint,
) -> None:
    """Make the module's weights those of the base model plus ``patches``.

    ``component`` is ``unet`` or ``text_encoder_<index>``. The caller holds
    the slot's lock (``ModuleSlot.use``).
    """
    active = tuple(patch for patch in patches if patch.strength != 0)
    # Backups without applied patches mean an earlier application stopped
    # half-way, so the weights must be restored even for an empty patch set.
    if slot.applied_patches == active and (active or not slot.weight_backups):
        return
    restore_weights(slot, module)
    if not active:
        return

    if component == "unet":
        aliases = unet_aliases(module, checkpoint.unet_config)
    else:
        index = int(component.rsplit("_", 1)[1])
        aliases = text_encoder_aliases(module, index, len(checkpoint.text_encoders))

    try:
        for patch in active:
            _apply_one(slot, module, patch, aliases, component)
    except Exception:
        restore_weights(slot, module)
        raise
    slot.applied_patches = active


def _apply_one(
    slot: ModuleSlot,
    module: torch.nn.Module,
    patch: LoraPatch,
    aliases: dict[str, str],
    component: str,
) -> None:
    """Add one LoRA file's deltas to the module, backing up each weight it changes first."""
    lora = read_lora(Path(patch.path))
    file_name = Path(patch.path).name
    matched = 0
    unmatched: list[str] = []
    for key in _component_keys(lora, "unet" if component == "unet" else "text"):
        name = aliases.get(key)
        if name is None:
            unmatched.append(key)
            continue
        weight = module.get_submodule(name).weight
        if name not in slot.weight_backups:
            slot.weight_backups[name] = weight.detach().to("cpu", copy=True)
        try:
            delta = lora.layers[key].delta(weight.shape, weight.device)
        except ValueError as exc:
            raise ValueError(f"LoRA {file_name} does not fit this model at {name}: {exc}") from None
        with torch.no_grad():
            weight.copy_((weight.float() + patch.strength * delta).to(weight.dtype))
        matched += 1

    if unmatched and not matched:
        raise ValueError(
            f"LoRA {file_name} matches no layer of this model's {component} "
            f"(for example {unmatched[0]}). It was made for another architecture"
        )
    if unmatched:
        log.warning(
            "lora layers not found in model",
            lora=file_name,
            component=component,
            count=len(unmatched),
            examples=unmatched[:3],
        )
    log.debug("lora applied", lora=file_name, component=component, layers=matched)
