"""Build diffusers and transformers modules from checkpoints, offline.

Single files in the original layout are converted with diffusers' own
converters into models whose configs come from ``architectures``. Diffusers
folders load with ``from_pretrained`` from their local files. Nothing here
touches the network: every path is local and tokenizers ship with brushwork.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import (
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
)
from safetensors import safe_open
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from .architectures import (
    TOKENIZER_DIR,
    CheckpointSpec,
    TextEncoderSpec,
    UnsupportedCheckpointError,
    read_safetensors_header,
)
from .layout import (
    UNET_PREFIX,
    VAE_PREFIX,
    clip_key_to_ldm,
    open_clip_in_proj_key,
    open_clip_key_to_ldm,
)

# CLIP's context window: 75 prompt tokens between the start and end tokens
# (context_length 77 in OpenAI CLIP and open_clip).
CLIP_CONTEXT = 77


@cache
def shipped_tokenizer() -> CLIPTokenizer:
    """Return the CLIP ViT-L/14 tokenizer that ships in ``data/tokenizers``."""
    # The shipped tokenizer_config.json sets model_max_length to 8192, but
    # CLIP's context is 77 tokens.
    return CLIPTokenizer.from_pretrained(
        TOKENIZER_DIR, model_max_length=CLIP_CONTEXT, local_files_only=True
    )


@cache
def folder_tokenizer(path: str) -> CLIPTokenizer:
    return CLIPTokenizer.from_pretrained(path, local_files_only=True)


def read_tensors(path: Path, prefix: str) -> dict[str, torch.Tensor]:
    """Read the tensors whose keys start with ``prefix``, and no other bytes of the file."""
    with safe_open(str(path), framework="pt") as file:
        return {key: file.get_tensor(key) for key in file.keys() if key.startswith(prefix)}


def _materialize(model: torch.nn.Module, state_dict: dict[str, torch.Tensor], what: str) -> None:
    """Load a complete state dict into a model created under ``init_empty_weights``."""
    try:
        model.load_state_dict(state_dict, strict=True, assign=True)
    except RuntimeError as exc:
        raise UnsupportedCheckpointError(
            f"the {what} weights do not fit the inferred model: {exc}"
        ) from None


def load_single_file_unet(path: Path, spec: CheckpointSpec) -> UNet2DConditionModel:
    ldm = read_tensors(path, UNET_PREFIX)
    converted = convert_ldm_unet_checkpoint(ldm, spec.unet_config)
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(spec.unet_config)
    _materialize(unet, converted, "UNet")
    return unet


def load_single_file_vae(path: Path, spec: CheckpointSpec) -> AutoencoderKL:
    ldm = read_tensors(path, VAE_PREFIX)
    converted = convert_ldm_vae_checkpoint(ldm, spec.vae_config)
    with init_empty_weights():
        vae = AutoencoderKL.from_config(spec.vae_config)
    _materialize(vae, converted, "VAE")
    return vae


def text_encoder_config(spec: TextEncoderSpec, tokenizer: CLIPTokenizer) -> CLIPTextConfig:
    return CLIPTextConfig(
        **spec.config,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.convert_tokens_to_ids(spec.pad_token),
    )


def load_single_file_text_encoder(
    path: Path, spec: TextEncoderSpec, tokenizer: CLIPTokenizer
) -> CLIPTextModel | CLIPTextModelWithProjection:
    config = text_encoder_config(spec, tokenizer)
    model_class = CLIPTextModelWithProjection if spec.pooled else CLIPTextModel
    with init_empty_weights():
        model = model_class(config)
    expected = list(model.state_dict())
    with safe_open(str(path), framework="pt") as file:
        if spec.format == "clip":
            state_dict = {
                key: file.get_tensor(clip_key_to_ldm(key, spec.prefix)) for key in expected
            }
        else:
            state_dict = _read_open_clip(file, expected, spec.prefix)
    _materialize(model, state_dict, f"text encoder {spec.prefix}*")
    return model


def _read_open_clip(file: Any, expected: list[str], prefix: str) -> dict[str, torch.Tensor]:
    """Read the tensors of a transformers CLIP text model from OpenCLIP names."""
    state_dict: dict[str, torch.Tensor] = {}
    fused: dict[tuple[int, str], torch.Tensor] = {}
    for key in expected:
        ldm_key = open_clip_key_to_ldm(key, prefix)
        if ldm_key is not None:
            tensor = file.get_tensor(ldm_key)
            # OpenCLIP multiplies by text_projection ([width, dim]), and the
            # transformers Linear stores the transpose.
            state_dict[key] = (
                tensor.T.contiguous() if ldm_key.endswith("text_projection") else tensor
            )
            continue
        parts = key.split(".")
        layer = int(parts[parts.index("layers") + 1])
        projection, param = parts[-2], parts[-1]
        if (layer, param) not in fused:
            fused[(layer, param)] = file.get_tensor(open_clip_in_proj_key(layer, param, prefix))
        q, k, v = fused[(layer, param)].chunk(3, dim=0)
        state_dict[key] = {"q_proj": q, "k_proj": k, "v_proj": v}[projection].contiguous()
    return state_dict


def detect_prediction_type(path: Path, spec: CheckpointSpec) -> str:
    """Return ``epsilon`` or ``v_prediction`` for a single-file checkpoint."""
    shapes = read_safetensors_header(path)
    if "v_pred" in shapes:
        return "v_prediction"
    probe = spec.v_prediction_probe
    if probe and probe["key"] in shapes:
        with safe_open(str(path), framework="pt") as file:
            values = file.get_tensor(probe["key"]).double()
        if float(values.std(unbiased=False)) > probe["min_std"]:
            return "v_prediction"
    return spec.scheduler_config.get("prediction_type", "epsilon")


def tensor_bytes(shapes: dict[str, tuple[int, ...]], prefix: str, element_size: int) -> int:
    """Estimate the memory of the tensors under ``prefix`` at ``element_size`` bytes each."""
    return (
        sum(int(np.prod(shape)) for key, shape in shapes.items() if key.startswith(prefix))
        * element_size
    )


# -- diffusers folders ---------------------------------------------------------------


@dataclass(frozen=True)
class FolderLayout:
    """The components of a diffusers Stable Diffusion folder."""

    root: Path
    text_encoders: tuple[str, ...]  # subfolder names
    tokenizers: tuple[str, ...]
    scheduler_config: dict[str, Any]
    vae_scaling_factor: float
    vae_downscale: int


def read_folder_layout(root: Path, arch: str) -> FolderLayout:
    names = ("text_encoder", "text_encoder_2") if arch == "sdxl" else ("text_encoder",)
    tokenizers = ("tokenizer", "tokenizer_2") if arch == "sdxl" else ("tokenizer",)
    for name in (*names, *tokenizers, "unet", "vae", "scheduler"):
        if not (root / name).is_dir():
            raise UnsupportedCheckpointError(
                f"diffusers folder {root.name} has no {name}/ subfolder"
            )
    with (root / "scheduler" / "scheduler_config.json").open(encoding="utf-8") as file:
        scheduler = json.load(file)
    with (root / "vae" / "config.json").open(encoding="utf-8") as file:
        vae_config = json.load(file)
    scaling = float(vae_config.get("scaling_factor", 0.18215))
    downscale = 2 ** (len(vae_config.get("block_out_channels", (0, 0, 0, 0))) - 1)
    return FolderLayout(root, names, tokenizers, scheduler, scaling, downscale)


def load_folder_unet(root: Path) -> UNet2DConditionModel:
    return UNet2DConditionModel.from_pretrained(root, subfolder="unet", local_files_only=True)


def load_folder_vae(root: Path) -> AutoencoderKL:
    return AutoencoderKL.from_pretrained(root, subfolder="vae", local_files_only=True)


def load_folder_text_encoder(root: Path, name: str) -> CLIPTextModel | CLIPTextModelWithProjection:
    config = CLIPTextConfig.from_pretrained(root / name, local_files_only=True)
    architectures = config.architectures or []
    model_class = (
        CLIPTextModelWithProjection
        if "CLIPTextModelWithProjection" in architectures
        else CLIPTextModel
    )
    return model_class.from_pretrained(root / name, local_files_only=True)


def folder_component_bytes(folder: Path, element_size: int) -> int:
    """Estimate a component folder's memory from its safetensors headers (0 when there are none)."""
    total = 0
    for file in folder.glob("*.safetensors"):
        total += tensor_bytes(read_safetensors_header(file), "", element_size)
    return total
