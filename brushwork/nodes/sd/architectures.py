"""Recognize a Stable Diffusion checkpoint and infer its model configurations.

Everything here works from the safetensors header (key names and tensor
shapes), so CheckpointLoaderSimple can validate a file without importing
torch. Layer counts and widths come from the shapes, which is what lets a
tiny test model load. The values that shapes cannot show (attention heads,
activations, noise schedule, VAE scaling) come from the JSON file of each
architecture in ``data/architectures``, whose ``sources`` name where each
value was published.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from .layout import UNET_PREFIX, VAE_PREFIX

DATA_DIR = Path(__file__).parent / "data"
TOKENIZER_DIR = DATA_DIR / "tokenizers" / "clip-vit-l-14"

# A safetensors file starts with the byte length of its JSON header (u64,
# little-endian). Headers of real checkpoints are well under 1 MiB, so the
# cap only rejects files that are not safetensors at all.
_MAX_HEADER_BYTES = 64 * 1024 * 1024

Shapes = dict[str, tuple[int, ...]]


class UnsupportedCheckpointError(ValueError):
    """A checkpoint whose architecture brushwork cannot run."""


@dataclass(frozen=True)
class TextEncoderSpec:
    """How to build and call one text encoder of a checkpoint."""

    format: str  # "clip" (transformers names) or "open_clip" (OpenCLIP names)
    prefix: str
    config: dict[str, Any]  # keyword arguments of transformers.CLIPTextConfig
    layer: str  # "last", "penultimate" (with final norm) or "penultimate_raw"
    pad_token: str
    pooled: bool = False  # whether the pooled, projected output conditions the UNet
    dropped_layers: int = 0  # trailing layers in the file that the model never runs


@dataclass(frozen=True)
class CheckpointSpec:
    """Everything needed to build the diffusers models of one checkpoint."""

    arch: str  # "sd1", "sd2" or "sdxl"
    arch_name: str
    unet_config: dict[str, Any]
    vae_config: dict[str, Any]
    text_encoders: tuple[TextEncoderSpec, ...]
    scheduler_config: dict[str, Any]
    default_resolution: int
    v_prediction_probe: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@cache
def architecture_defaults(arch: str) -> dict[str, Any]:
    """Load the published values of one architecture (``sd1``, ``sd2``, ``sdxl``)."""
    with (DATA_DIR / "architectures" / f"{arch}.json").open(encoding="utf-8") as file:
        return json.load(file)


def read_safetensors_header(path: Path) -> Shapes:
    """Return the tensor shapes of a safetensors file by reading only its header."""
    with path.open("rb") as file:
        raw_length = file.read(8)
        if len(raw_length) != 8:
            raise UnsupportedCheckpointError(
                f"{path.name} is not a safetensors file: it is shorter than 8 bytes"
            )
        (length,) = struct.unpack("<Q", raw_length)
        if length > _MAX_HEADER_BYTES:
            raise UnsupportedCheckpointError(
                f"{path.name} is not a safetensors file: its header length {length} is implausible"
            )
        try:
            header = json.loads(file.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UnsupportedCheckpointError(
                f"{path.name} is not a safetensors file: {exc}"
            ) from None
    return {key: tuple(value["shape"]) for key, value in header.items() if key != "__metadata__"}


def detect_architecture(shapes: Shapes) -> str:
    """Return ``sd1``, ``sd2`` or ``sdxl``, or raise UnsupportedCheckpointError naming the file."""
    keys = shapes.keys()
    _reject_known_unsupported(shapes)

    first_conv = shapes.get(UNET_PREFIX + "input_blocks.0.0.weight")
    if first_conv is None:
        prefixes = sorted({key.split(".", 1)[0] for key in keys})[:8]
        raise UnsupportedCheckpointError(
            "unrecognized checkpoint architecture: no Stable Diffusion UNet keys "
            f"({UNET_PREFIX}*). Its top-level key prefixes are {prefixes}"
        )
    in_channels = first_conv[1]
    if in_channels != 4:
        kind = {9: "inpainting", 8: "instruct-pix2pix"}.get(in_channels, "non-standard")
        raise UnsupportedCheckpointError(
            f"unsupported checkpoint architecture: {kind} UNet with {in_channels} input channels "
            "(brushwork runs 4-channel text-to-image UNets)"
        )
    if not any(key.startswith(VAE_PREFIX) for key in keys):
        raise UnsupportedCheckpointError(
            "unsupported checkpoint: the file has a UNet but no VAE (first_stage_model.*); "
            "CheckpointLoaderSimple needs UNet, text encoder and VAE in one file"
        )

    has_label_emb = UNET_PREFIX + "label_emb.0.0.weight" in shapes
    if any(key.startswith("conditioner.embedders.1.model.") for key in keys):
        return "sdxl"
    if any(key.startswith("conditioner.embedders.0.model.") for key in keys):
        raise UnsupportedCheckpointError(
            "unsupported checkpoint architecture: Stable Diffusion XL refiner"
        )
    if has_label_emb:
        raise UnsupportedCheckpointError(
            "unsupported checkpoint architecture: Stable Diffusion 2.1 unCLIP or another "
            "class-conditioned UNet (label_emb without an SDXL text encoder)"
        )
    if any(key.startswith("cond_stage_model.model.") for key in keys):
        return "sd2"
    if any(key.startswith("cond_stage_model.transformer.") for key in keys):
        return "sd1"
    raise UnsupportedCheckpointError(
        "unsupported checkpoint: no text encoder found "
        "(cond_stage_model.* or conditioner.embedders.*)"
    )


_KNOWN_UNSUPPORTED = (
    ("joint_blocks.", "Stable Diffusion 3"),
    ("double_blocks.", "Flux"),
    ("time_stack", "Stable Video Diffusion"),
    ("control_model.", "ControlNet"),
    ("clip_txt_mapper.", "Stable Cascade"),
    ("down_blocks.1.0.channelwise.", "Stable Cascade"),
    ("cap_embedder.", "Lumina 2"),
    ("x_embedder.", "a diffusion transformer (DiT)"),
)


def _reject_known_unsupported(shapes: Shapes) -> None:
    for key in shapes:
        for marker, name in _KNOWN_UNSUPPORTED:
            if marker in key:
                raise UnsupportedCheckpointError(
                    f"unsupported checkpoint architecture: {name} (found key {key!r}). "
                    "brushwork loads Stable Diffusion 1.x, 2.x and XL"
                )
    if "edm_mean" in shapes:
        raise UnsupportedCheckpointError(
            "unsupported checkpoint architecture: Playground v2.5 (EDM)"
        )
    if "edm_vpred.sigma_max" in shapes:
        raise UnsupportedCheckpointError(
            "unsupported checkpoint architecture: SDXL EDM v-prediction"
        )


def inspect_checkpoint(shapes: Shapes) -> CheckpointSpec:
    """Detect the architecture and infer every model configuration from the shapes."""
    arch = detect_architecture(shapes)
    defaults = architecture_defaults(arch)
    text_encoders = tuple(
        _infer_text_encoder(shapes, entry, arch) for entry in defaults["text_encoders"]
    )
    unet_config = infer_unet_config(shapes, defaults["unet"], text_encoders)
    vae_config = infer_vae_config(shapes, defaults["vae_scaling_factor"])
    return CheckpointSpec(
        arch=arch,
        arch_name=defaults["name"],
        unet_config=unet_config,
        vae_config=vae_config,
        text_encoders=text_encoders,
        scheduler_config=dict(defaults["scheduler"]),
        default_resolution=defaults["default_resolution"],
        v_prediction_probe=defaults.get("v_prediction_probe"),
    )


def _indices(shapes: Shapes, pattern: str) -> list[int]:
    regex = re.compile(pattern)
    found = {int(match[1]) for key in shapes if (match := regex.match(key))}
    return sorted(found)


def _require(shapes: Shapes, key: str) -> tuple[int, ...]:
    try:
        return shapes[key]
    except KeyError:
        raise UnsupportedCheckpointError(
            f"unsupported checkpoint layout: missing tensor {key!r}"
        ) from None


def heads_for(channels: int, num_heads: int | None, head_channels: int | None) -> int:
    """Return the attention head count: fixed (SD 1.x) or channels per head (SD 2.x, SDXL).

    Widths under one head's channel count (only tiny test models have them)
    get one head.
    """
    if num_heads is not None:
        return num_heads
    assert head_channels is not None
    return max(1, channels // head_channels)


def infer_unet_config(
    shapes: Shapes, head_rule: dict[str, Any], text_encoders: tuple[TextEncoderSpec, ...]
) -> dict[str, Any]:
    """Infer a diffusers UNet2DConditionModel config from original-layout shapes."""
    p = UNET_PREFIX
    model_channels, in_channels = _require(shapes, p + "input_blocks.0.0.weight")[:2]
    out_channels = _require(shapes, p + "out.2.weight")[0]
    input_blocks = _indices(shapes, re.escape(p) + r"input_blocks\.(\d+)\.")
    downsamplers = _indices(shapes, re.escape(p) + r"input_blocks\.(\d+)\.0\.op\.weight")
    layers_per_block = downsamplers[0] - 1 if downsamplers else len(input_blocks) - 1
    num_blocks = len(downsamplers) + 1
    per_block = layers_per_block + 1

    block_out_channels: list[int] = []
    down_types: list[str] = []
    down_depths: list[int] = []
    for block in range(num_blocks):
        first = 1 + block * per_block
        block_out_channels.append(
            _require(shapes, f"{p}input_blocks.{first}.0.out_layers.3.weight")[0]
        )
        depth = _transformer_depth(shapes, f"{p}input_blocks.{first}.1.")
        down_types.append("CrossAttnDownBlock2D" if depth else "DownBlock2D")
        down_depths.append(depth or 1)

    up_types: list[str] = []
    for block in range(num_blocks):
        depth = _transformer_depth(shapes, f"{p}output_blocks.{block * per_block}.1.")
        up_types.append("CrossAttnUpBlock2D" if depth else "UpBlock2D")
        expected = down_depths[num_blocks - 1 - block]
        if depth and depth != expected:
            raise UnsupportedCheckpointError(
                f"unsupported UNet layout: up block {block} has {depth} transformer layers, "
                f"its down block has {expected}"
            )
    mid_depth = _transformer_depth(shapes, f"{p}middle_block.1.")
    if mid_depth == 0:
        raise UnsupportedCheckpointError(
            "unsupported UNet layout: the middle block has no attention"
        )
    if mid_depth != down_depths[-1]:
        # diffusers gives the middle block the depth of the last down block.
        raise UnsupportedCheckpointError(
            f"unsupported UNet layout: the middle block has {mid_depth} transformer layers, "
            f"the last down block has {down_depths[-1]}"
        )

    attention_keys = [
        k
        for k in shapes
        if k.startswith(p) and k.endswith("transformer_blocks.0.attn2.to_k.weight")
    ]
    cross_attention_dim = shapes[attention_keys[0]][1]
    proj_in = next(k for k in shapes if k.startswith(p) and k.endswith(".proj_in.weight"))
    heads = [
        heads_for(c, head_rule["num_heads"], head_rule["head_channels"]) for c in block_out_channels
    ]

    config: dict[str, Any] = {
        "sample_size": 64,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "down_block_types": down_types,
        "up_block_types": up_types,
        "block_out_channels": block_out_channels,
        "layers_per_block": layers_per_block,
        "cross_attention_dim": cross_attention_dim,
        "attention_head_dim": heads[0] if head_rule["num_heads"] is not None else heads,
        "use_linear_projection": len(shapes[proj_in]) == 2,
        "transformer_layers_per_block": down_depths
        if len(set(down_depths)) > 1
        else down_depths[0],
    }
    time_embed_dim = _require(shapes, p + "time_embed.0.weight")[0]
    if time_embed_dim != 4 * model_channels:
        config["time_embedding_dim"] = time_embed_dim
    _add_sdxl_conditioning(shapes, config, text_encoders)
    return config


def _add_sdxl_conditioning(
    shapes: Shapes, config: dict[str, Any], text_encoders: tuple[TextEncoderSpec, ...]
) -> None:
    label = shapes.get(UNET_PREFIX + "label_emb.0.0.weight")
    if label is None:
        return
    adm_in = label[1]
    pooled = [spec for spec in text_encoders if spec.pooled]
    pooled_dim = pooled[0].config["projection_dim"] if pooled else 0
    # SDXL's vector conditioning is the pooled text embedding followed by six
    # sinusoidal embeddings (original size, crop and target size, two numbers each).
    time_dim, remainder = divmod(adm_in - pooled_dim, 6)
    if remainder or time_dim <= 0:
        raise UnsupportedCheckpointError(
            f"unsupported UNet layout: label_emb input width {adm_in} does not fit "
            f"a pooled width of {pooled_dim} plus six time embeddings"
        )
    config["addition_embed_type"] = "text_time"
    config["addition_time_embed_dim"] = time_dim
    config["projection_class_embeddings_input_dim"] = adm_in


def _transformer_depth(shapes: Shapes, block_prefix: str) -> int:
    depths = _indices(shapes, re.escape(block_prefix) + r"transformer_blocks\.(\d+)\.")
    return len(depths)


def infer_vae_config(shapes: Shapes, scaling_factor: float) -> dict[str, Any]:
    """Infer a diffusers AutoencoderKL config from original-layout shapes."""
    p = VAE_PREFIX
    blocks = _indices(shapes, re.escape(p) + r"encoder\.down\.(\d+)\.")
    layers = _indices(shapes, re.escape(p) + r"encoder\.down\.0\.block\.(\d+)\.")
    block_out_channels = [
        _require(shapes, f"{p}encoder.down.{b}.block.0.conv2.weight")[0] for b in blocks
    ]
    return {
        "in_channels": _require(shapes, p + "encoder.conv_in.weight")[1],
        "out_channels": _require(shapes, p + "decoder.conv_out.weight")[0],
        "down_block_types": ["DownEncoderBlock2D"] * len(blocks),
        "up_block_types": ["UpDecoderBlock2D"] * len(blocks),
        "block_out_channels": block_out_channels,
        "layers_per_block": len(layers),
        "latent_channels": _require(shapes, p + "decoder.conv_in.weight")[1],
        "scaling_factor": scaling_factor,
    }


def _infer_text_encoder(shapes: Shapes, entry: dict[str, Any], arch: str) -> TextEncoderSpec:
    prefix = entry["prefix"]
    if entry["format"] == "clip":
        vocab, hidden = _require(shapes, prefix + "embeddings.token_embedding.weight")
        positions = _require(shapes, prefix + "embeddings.position_embedding.weight")[0]
        layers = len(_indices(shapes, re.escape(prefix) + r"encoder\.layers\.(\d+)\."))
        intermediate = _require(shapes, prefix + "encoder.layers.0.mlp.fc1.weight")[0]
        projection = hidden
    else:
        vocab, hidden = _require(shapes, prefix + "token_embedding.weight")
        positions = _require(shapes, prefix + "positional_embedding")[0]
        layers = len(_indices(shapes, re.escape(prefix) + r"transformer\.resblocks\.(\d+)\."))
        intermediate = _require(shapes, prefix + "transformer.resblocks.0.mlp.c_fc.weight")[0]
        projection_shape = shapes.get(prefix + "text_projection")
        projection = projection_shape[1] if projection_shape else hidden

    dropped = 1 if entry["layer"] == "penultimate" else 0
    if layers - dropped < 1:
        raise UnsupportedCheckpointError(
            f"unsupported text encoder: {prefix}* has only {layers} layers"
        )
    config = {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "projection_dim": projection,
        "num_hidden_layers": layers - dropped,
        "num_attention_heads": heads_for(hidden, None, entry["head_channels"]),
        "max_position_embeddings": positions,
        "hidden_act": entry["hidden_act"],
        "layer_norm_eps": 1e-5,
    }
    return TextEncoderSpec(
        format=entry["format"],
        prefix=prefix,
        config=config,
        layer=entry["layer"],
        pad_token=entry["pad_token"],
        pooled=entry.get("pooled", False),
        dropped_layers=dropped,
    )


def read_diffusers_pipeline_class(folder: Path) -> str:
    """Return the ``_class_name`` of a diffusers folder's model_index.json."""
    index = folder / "model_index.json"
    try:
        with index.open(encoding="utf-8") as file:
            return str(json.load(file).get("_class_name", ""))
    except (OSError, json.JSONDecodeError) as exc:
        raise UnsupportedCheckpointError(f"invalid diffusers folder {folder.name}: {exc}") from None


DIFFUSERS_PIPELINES = {
    "StableDiffusionPipeline": "sd1",
    "StableDiffusionImg2ImgPipeline": "sd1",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusionXLImg2ImgPipeline": "sdxl",
}


def detect_diffusers_architecture(folder: Path) -> str:
    """Return ``sd1``, ``sd2`` or ``sdxl`` for a diffusers folder, or raise naming its pipeline."""
    pipeline = read_diffusers_pipeline_class(folder)
    arch = DIFFUSERS_PIPELINES.get(pipeline)
    if arch is None:
        raise UnsupportedCheckpointError(
            f"unsupported diffusers pipeline {pipeline or '(none)'} in {folder.name}. "
            f"brushwork loads {', '.join(sorted(DIFFUSERS_PIPELINES))}"
        )
    if arch == "sdxl" and not (folder / "text_encoder").is_dir():
        raise UnsupportedCheckpointError(
            "unsupported checkpoint architecture: Stable Diffusion XL refiner "
            f"({folder.name} has no text_encoder)"
        )
    if arch == "sd1":
        # SD 2.x folders use the same pipeline class. Their OpenCLIP text
        # encoder uses GELU where OpenAI CLIP uses QuickGELU.
        try:
            with (folder / "text_encoder" / "config.json").open(encoding="utf-8") as file:
                hidden_act = json.load(file).get("hidden_act")
        except (OSError, json.JSONDecodeError) as exc:
            raise UnsupportedCheckpointError(
                f"invalid diffusers folder {folder.name}: {exc}"
            ) from None
        if hidden_act == "gelu":
            arch = "sd2"
    return arch


def check_checkpoint(path: Path) -> str:
    """Return the architecture of a checkpoint file or diffusers folder.

    Raises UnsupportedCheckpointError for anything brushwork cannot load.
    """
    if path.is_dir():
        return detect_diffusers_architecture(path)
    return inspect_checkpoint(read_safetensors_header(path)).arch


def check_lora_file(path: Path) -> None:
    """Raise UnsupportedCheckpointError unless the file's keys look like a supported LoRA."""
    suffixes = (".lora_down.weight", ".lora_up.weight", ".lora_A.weight", ".lora_B.weight")
    if not any(key.endswith(suffixes) for key in read_safetensors_header(path)):
        raise UnsupportedCheckpointError(
            f"{path.name} has no LoRA layers in a supported format "
            "(kohya lora_down/lora_up or PEFT lora_A/lora_B keys)"
        )
