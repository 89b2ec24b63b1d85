"""The MODEL, CLIP and VAE values that the nodes pass along, and the checkpoint cache.

A LoadedCheckpoint contains one ModuleSlot per component of one checkpoint
on one device, and the slots load on first use. SDModel, SDClip and SDVae
are light, immutable, hashable views of it. LoraLoader returns new views
with more patches and never copies weights: the patches are applied to the
shared module when a node uses it (see lora.py).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from transformers import CLIPTokenizer

from . import loading
from .architectures import (
    detect_diffusers_architecture,
    inspect_checkpoint,
    read_safetensors_header,
)
from .files import is_diffusers_folder
from .layout import UNET_PREFIX, VAE_PREFIX
from .memory import ModuleSlot


@dataclass(frozen=True)
class TextEncoder:
    """One text encoder of a checkpoint, its tokenizer and how its output is taken."""

    slot: ModuleSlot
    tokenizer: CLIPTokenizer
    layer: str  # "last" or "penultimate_raw"
    pad_token_id: int
    pooled: bool


@dataclass(eq=False)
class LoadedCheckpoint:
    """The components of one checkpoint on one device, compared by identity."""

    name: str
    arch: str
    device: torch.device
    prediction_type: str
    scheduler_config: dict[str, Any]
    vae_scaling_factor: float
    vae_downscale: int  # pixels per latent pixel along each side
    unet: ModuleSlot
    unet_config: dict[str, Any]
    vae: ModuleSlot
    text_encoders: list[TextEncoder]

    def slots(self) -> list[ModuleSlot]:
        return [self.unet, self.vae, *(encoder.slot for encoder in self.text_encoders)]


@dataclass(frozen=True)
class LoraPatch:
    """One LoRA file applied to one component with one strength."""

    path: str  # absolute
    strength: float
    # The file's modification time and size, so that a changed file counts as
    # a different patch.
    stamp: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class SDModel:
    """A MODEL value: the UNet of a checkpoint with the LoRA patches to apply."""

    checkpoint: LoadedCheckpoint
    patches: tuple[LoraPatch, ...] = ()

    @contextmanager
    def unet(self) -> Iterator[torch.nn.Module]:
        from .lora import apply_patches

        with self.checkpoint.unet.use() as module:
            apply_patches(self.checkpoint.unet, module, self.patches, "unet", self.checkpoint)
            yield module

    def with_patch(self, patch: LoraPatch) -> SDModel:
        return replace(self, patches=(*self.patches, patch))


@dataclass(frozen=True)
class SDClip:
    """A CLIP value: the text encoders of a checkpoint with their LoRA patches."""

    checkpoint: LoadedCheckpoint
    patches: tuple[LoraPatch, ...] = ()

    @contextmanager
    def text_encoder(self, index: int) -> Iterator[torch.nn.Module]:
        from .lora import apply_patches

        encoder = self.checkpoint.text_encoders[index]
        with encoder.slot.use() as module:
            apply_patches(
                encoder.slot, module, self.patches, f"text_encoder_{index}", self.checkpoint
            )
            yield module

    def with_patch(self, patch: LoraPatch) -> SDClip:
        return replace(self, patches=(*self.patches, patch))


@dataclass(frozen=True)
class SDVae:
    """A VAE value."""

    checkpoint: LoadedCheckpoint


# -- dtype policy ---------------------------------------------------------------------


def component_dtype(device: torch.device, component: str) -> torch.dtype:
    """Choose the dtype of a component on a device.

    CUDA runs the UNet and text encoders in float16. The VAE runs in bfloat16
    where the GPU supports it and in float32 otherwise, because the SDXL VAE
    overflows float16. The CPU runs everything in float32.
    """
    if device.type != "cuda":
        return torch.float32
    if component == "vae":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return torch.float16


def _element_size(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def normalize_device(device: torch.device | str) -> torch.device:
    """Return the device with an explicit index, so that "cuda" and "cuda:0" compare equal.

    "auto" (the engine's default) is the first CUDA device when one is present,
    else the CPU: the engine decides this here, when torch is already loaded,
    instead of importing torch at start-up.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


# -- opening checkpoints --------------------------------------------------------------

_cache_lock = threading.Lock()
_checkpoints: dict[tuple[str, str], tuple[tuple[int, int], LoadedCheckpoint]] = {}


def open_checkpoint(
    path: Path, device: torch.device | str, name: str | None = None
) -> LoadedCheckpoint:
    """Return the LoadedCheckpoint of a file or diffusers folder on a device, cached.

    The cache entry is replaced when the file's size or modification time
    changes, and the replaced entry's modules are unloaded. For a diffusers
    folder that is the folder's own entry, which changes when files are
    added or removed but not when one is rewritten in place.
    """
    device = normalize_device(device)
    path = path.resolve()
    stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    key = (str(path), str(device))
    with _cache_lock:
        cached = _checkpoints.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        if cached is not None:
            for slot in cached[1].slots():
                slot.unload()
        display = name or path.name
        if is_diffusers_folder(path):
            checkpoint = _open_folder(path, device, display)
        else:
            checkpoint = _open_single_file(path, device, display)
        _checkpoints[key] = (stamp, checkpoint)
        return checkpoint


def _open_single_file(path: Path, device: torch.device, name: str) -> LoadedCheckpoint:
    shapes = read_safetensors_header(path)
    spec = inspect_checkpoint(shapes)
    tokenizer = loading.shipped_tokenizer()
    unet_dtype = component_dtype(device, "unet")
    vae_dtype = component_dtype(device, "vae")
    text_dtype = component_dtype(device, "text")

    unet = ModuleSlot(
        f"{name}:unet",
        lambda: loading.load_single_file_unet(path, spec),
        device,
        unet_dtype,
        loading.tensor_bytes(shapes, UNET_PREFIX, _element_size(unet_dtype)),
    )
    vae = ModuleSlot(
        f"{name}:vae",
        lambda: loading.load_single_file_vae(path, spec),
        device,
        vae_dtype,
        loading.tensor_bytes(shapes, VAE_PREFIX, _element_size(vae_dtype)),
    )
    encoders = []
    for index, encoder_spec in enumerate(spec.text_encoders):
        slot = ModuleSlot(
            f"{name}:text_encoder_{index}",
            lambda encoder_spec=encoder_spec: loading.load_single_file_text_encoder(
                path, encoder_spec, tokenizer
            ),
            device,
            text_dtype,
            loading.tensor_bytes(shapes, encoder_spec.prefix, _element_size(text_dtype)),
        )
        layer = "last" if encoder_spec.layer == "penultimate" else encoder_spec.layer
        pad_id = tokenizer.convert_tokens_to_ids(encoder_spec.pad_token)
        encoders.append(TextEncoder(slot, tokenizer, layer, pad_id, encoder_spec.pooled))

    scheduler = dict(spec.scheduler_config)
    scheduler["prediction_type"] = loading.detect_prediction_type(path, spec)
    return LoadedCheckpoint(
        name=name,
        arch=spec.arch,
        device=device,
        prediction_type=scheduler["prediction_type"],
        scheduler_config=scheduler,
        vae_scaling_factor=spec.vae_config["scaling_factor"],
        vae_downscale=2 ** (len(spec.vae_config["block_out_channels"]) - 1),
        unet=unet,
        unet_config=spec.unet_config,
        vae=vae,
        text_encoders=encoders,
    )


def _open_folder(root: Path, device: torch.device, name: str) -> LoadedCheckpoint:
    arch = detect_diffusers_architecture(root)
    layout = loading.read_folder_layout(root, arch)
    unet_dtype = component_dtype(device, "unet")
    vae_dtype = component_dtype(device, "vae")
    text_dtype = component_dtype(device, "text")
    with (root / "unet" / "config.json").open(encoding="utf-8") as file:
        unet_config = json.load(file)

    unet = ModuleSlot(
        f"{name}:unet",
        lambda: loading.load_folder_unet(root),
        device,
        unet_dtype,
        loading.folder_component_bytes(root / "unet", _element_size(unet_dtype)),
    )
    vae = ModuleSlot(
        f"{name}:vae",
        lambda: loading.load_folder_vae(root),
        device,
        vae_dtype,
        loading.folder_component_bytes(root / "vae", _element_size(vae_dtype)),
    )
    encoders = []
    for index, (encoder_name, tokenizer_name) in enumerate(
        zip(layout.text_encoders, layout.tokenizers, strict=True)
    ):
        slot = ModuleSlot(
            f"{name}:text_encoder_{index}",
            lambda encoder_name=encoder_name: loading.load_folder_text_encoder(root, encoder_name),
            device,
            text_dtype,
            loading.folder_component_bytes(root / encoder_name, _element_size(text_dtype)),
        )
        tokenizer = loading.folder_tokenizer(str(root / tokenizer_name))
        # diffusers' SDXL pipeline takes the penultimate hidden state without
        # the final norm from both encoders. SD 1.x and 2.x folders contain
        # only the layers they run, so the last hidden state is the output.
        layer = "penultimate_raw" if arch == "sdxl" else "last"
        pooled = arch == "sdxl" and index == 1
        encoders.append(TextEncoder(slot, tokenizer, layer, tokenizer.pad_token_id, pooled))

    prediction_type = layout.scheduler_config.get("prediction_type", "epsilon")
    scheduler = {
        key: layout.scheduler_config[key]
        for key in (
            "num_train_timesteps",
            "beta_start",
            "beta_end",
            "beta_schedule",
            "trained_betas",
        )
        if layout.scheduler_config.get(key) is not None
    }
    scheduler["prediction_type"] = prediction_type
    return LoadedCheckpoint(
        name=name,
        arch=arch,
        device=device,
        prediction_type=prediction_type,
        scheduler_config=scheduler,
        vae_scaling_factor=layout.vae_scaling_factor,
        vae_downscale=layout.vae_downscale,
        unet=unet,
        unet_config=unet_config,
        vae=vae,
        text_encoders=encoders,
    )


def forget_checkpoints() -> None:
    """Drop the checkpoint cache (the modules themselves are unloaded by free_models)."""
    with _cache_lock:
        _checkpoints.clear()


def in_memory_checkpoint(
    name: str,
    arch: str,
    device: torch.device | str,
    *,
    unet: torch.nn.Module,
    vae: torch.nn.Module,
    text_encoders: list[torch.nn.Module],
    tokenizers: list[CLIPTokenizer],
    scheduler_config: dict[str, Any],
    vae_scaling_factor: float,
) -> LoadedCheckpoint:
    """Wrap modules that are already built (benchmarks, tests) as a LoadedCheckpoint.

    The modules stay referenced, so unloading one for memory frees nothing,
    and the next use moves it to the device again.
    """
    device = normalize_device(device)
    sdxl = arch == "sdxl"

    def slot(label: str, module: torch.nn.Module, component: str) -> ModuleSlot:
        dtype = component_dtype(device, component)
        size = sum(p.numel() for p in module.parameters()) * _element_size(dtype)
        return ModuleSlot(f"{name}:{label}", lambda: module, device, dtype, size)

    encoders = [
        TextEncoder(
            slot(f"text_encoder_{index}", module, "text"),
            tokenizer,
            "penultimate_raw" if sdxl else "last",
            tokenizer.pad_token_id,
            sdxl and index == 1,
        )
        for index, (module, tokenizer) in enumerate(zip(text_encoders, tokenizers, strict=True))
    ]
    return LoadedCheckpoint(
        name=name,
        arch=arch,
        device=device,
        prediction_type=scheduler_config.get("prediction_type", "epsilon"),
        scheduler_config=scheduler_config,
        vae_scaling_factor=vae_scaling_factor,
        vae_downscale=2 ** (len(vae.config.block_out_channels) - 1),
        unet=slot("unet", unet, "unet"),
        unet_config=dict(unet.config),
        vae=slot("vae", vae, "vae"),
        text_encoders=encoders,
    )
