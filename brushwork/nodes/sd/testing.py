"""Tiny Stable Diffusion checkpoints and LoRAs for tests, built offline from a seed.

``build_tiny_checkpoint(directory)`` creates seeded, randomly initialized
diffusers models and writes them twice. One copy is a ``.safetensors`` file
in the original single-file layout, written here with ``layout`` because
diffusers cannot convert back. The other is a diffusers folder whose
tokenizer is a small byte-level vocabulary generated here. The single file
uses the CLIP tokenizer that ships with brushwork, so its token embeddings
have CLIP's 49408 rows, which make up half of its 11 to 20 MB.

Sizes follow the rules that loading infers back (see architectures.py):
channels are multiples of 32 for GroupNorm(32), the VAE has four blocks so a
latent pixel is 8 image pixels, and attention heads follow each
architecture's rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from .architectures import architecture_defaults, heads_for
from .layout import (
    clip_key_to_ldm,
    open_clip_in_proj_key,
    open_clip_key_to_ldm,
    unet_key_to_ldm,
    unet_module_to_ldm,
    vae_key_to_ldm,
)

# Warning filters (pytest's filterwarnings syntax) for harmless warnings that
# third-party code emits while these models run. diffusers 0.42's schedulers
# pass torch tensors to numpy functions, which makes numpy 2 warn about
# torch's __array__ and __array_wrap__ signatures. torchsde warns when
# diffusers' DPMSolverSDEScheduler queries its Brownian tree at a time that
# float rounding puts just below the tree's start.
THIRD_PARTY_WARNING_FILTERS = (
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning",
    "ignore:__array_wrap__ must accept context and return_scalar arguments:DeprecationWarning",
    "ignore:Should have ta>=t0:UserWarning",
    "ignore:Should have tb<=t1:UserWarning",
)
CLIP_VOCAB_SIZE = 49408  # rows of the shipped CLIP ViT-L/14 tokenizer's vocabulary
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
TEXT_WIDTH = 32
TEXT_LAYERS = 2


@dataclass(frozen=True)
class TinyCheckpoint:
    """Paths of one tiny model in both formats."""

    arch: str
    checkpoint: Path  # single file, original layout
    diffusers_folder: Path


def _unet_config(arch: str, text_width: int, pooled_width: int) -> dict[str, Any]:
    head_rule = architecture_defaults(arch)["unet"]
    channels = (32, 64)
    heads = [heads_for(c, head_rule["num_heads"], head_rule["head_channels"]) for c in channels]
    config: dict[str, Any] = {
        "sample_size": 8,
        "block_out_channels": channels,
        "layers_per_block": 2 if arch == "sd1" else 1,
        "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
        "cross_attention_dim": text_width,
        "attention_head_dim": heads[0] if head_rule["num_heads"] is not None else heads,
        "use_linear_projection": arch != "sd1",
    }
    if arch == "sdxl":
        time_dim = 8
        config.update(
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2),
            addition_embed_type="text_time",
            addition_time_embed_dim=time_dim,
            projection_class_embeddings_input_dim=pooled_width + 6 * time_dim,
        )
    return config


_VAE_CONFIG = {
    "block_out_channels": (32, 32, 32, 32),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 1,
    "latent_channels": 4,
}


def _text_config(
    entry: dict[str, Any], layers: int, bos: int, eos: int, pad: int
) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=CLIP_VOCAB_SIZE,
        hidden_size=TEXT_WIDTH,
        intermediate_size=2 * TEXT_WIDTH,
        projection_dim=TEXT_WIDTH,
        num_hidden_layers=layers,
        num_attention_heads=heads_for(TEXT_WIDTH, None, entry["head_channels"]),
        max_position_embeddings=77,
        hidden_act=entry["hidden_act"],
        bos_token_id=bos,
        eos_token_id=eos,
        pad_token_id=pad,
    )


def build_tiny_checkpoint(
    directory: Path, arch: str = "sd1", seed: int = 0, *, v_prediction: bool = False
) -> TinyCheckpoint:
    """Build a tiny ``sd1``, ``sd2`` or ``sdxl`` model under ``directory`` in both formats."""
    directory.mkdir(parents=True, exist_ok=True)
    defaults = architecture_defaults(arch)
    vocabulary = _ClipVocabulary.shipped_ids()

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoders = []
        for entry in defaults["text_encoders"]:
            # SD 2.x runs the text encoder's penultimate layer, so the file
            # contains one layer more than the model that loads from it.
            layers = TEXT_LAYERS + (1 if entry["layer"] == "penultimate" else 0)
            pad = vocabulary[entry["pad_token"]]
            config = _text_config(entry, layers, vocabulary[BOS], vocabulary[EOS], pad)
            model_class = CLIPTextModelWithProjection if entry.get("pooled") else CLIPTextModel
            encoders.append((entry, model_class(config).eval()))
        text_width = TEXT_WIDTH * len(encoders)
        unet = UNet2DConditionModel(**_unet_config(arch, text_width, TEXT_WIDTH)).eval()
        vae = AutoencoderKL(**_VAE_CONFIG).eval()

    path = directory / f"tiny-{arch}.safetensors"
    tensors = _original_layout(arch, unet, vae, encoders)
    if v_prediction:
        tensors["v_pred"] = torch.tensor([])
    save_file(tensors, str(path))
    folder = directory / f"tiny-{arch}-diffusers"
    _write_folder(folder, arch, unet, vae, encoders, v_prediction)
    return TinyCheckpoint(arch, path, folder)


# -- the original single-file layout -----------------------------------------------------


def _original_layout(
    arch: str,
    unet: UNet2DConditionModel,
    vae: AutoencoderKL,
    encoders: list[tuple[dict[str, Any], Any]],
) -> dict[str, torch.Tensor]:
    tensors: dict[str, torch.Tensor] = {}
    up_attention = ["CrossAttn" in t for t in unet.config.up_block_types]
    for key, tensor in unet.state_dict().items():
        tensors[unet_key_to_ldm(key, unet.config.layers_per_block, up_attention)] = tensor
    blocks = len(vae.config.block_out_channels)
    for key, tensor in vae.state_dict().items():
        ldm = vae_key_to_ldm(key, blocks)
        # The original VAE attention projections are 1x1 convolutions.
        if ".mid.attn_1." in ldm and ldm.endswith(".weight") and tensor.ndim == 2:
            tensor = tensor[:, :, None, None]
        tensors[ldm] = tensor
    for entry, model in encoders:
        if entry["format"] == "clip":
            tensors.update(_clip_tensors(model, entry["prefix"]))
        else:
            tensors.update(_open_clip_tensors(model, entry["prefix"]))
    return {key: value.contiguous() for key, value in tensors.items()}


def _clip_tensors(model: CLIPTextModel, prefix: str) -> dict[str, torch.Tensor]:
    tensors = {clip_key_to_ldm(key, prefix): value for key, value in model.state_dict().items()}
    # Real checkpoints carry the position-id buffer, which loading must ignore.
    tensors[prefix + "embeddings.position_ids"] = torch.arange(77, dtype=torch.int64)[None]
    return tensors


def _open_clip_tensors(model: Any, prefix: str) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    fused: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        ldm = open_clip_key_to_ldm(key, prefix)
        if ldm is None:
            parts = key.split(".")
            layer = int(parts[parts.index("layers") + 1])
            fused.setdefault((layer, parts[-1]), {})[parts[-2]] = value
        elif ldm.endswith("text_projection"):
            tensors[ldm] = value.T
        else:
            tensors[ldm] = value
    for (layer, param), parts in fused.items():
        tensors[open_clip_in_proj_key(layer, param, prefix)] = torch.cat(
            [parts["q_proj"], parts["k_proj"], parts["v_proj"]]
        )
    if prefix + "text_projection" not in tensors:
        # SD 2.x files store OpenCLIP's projection although SD never uses it.
        tensors[prefix + "text_projection"] = torch.eye(model.config.hidden_size)
    tensors[prefix + "logit_scale"] = torch.tensor(4.6052)
    return tensors


# -- the diffusers folder -----------------------------------------------------------------


def _write_folder(
    folder: Path,
    arch: str,
    unet: UNet2DConditionModel,
    vae: AutoencoderKL,
    encoders: list[tuple[dict[str, Any], Any]],
    v_prediction: bool,
) -> None:
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    vocabulary = _ClipVocabulary.generated()
    components: dict[str, list[str]] = {
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    }
    for index, (entry, model) in enumerate(encoders):
        suffix = "" if index == 0 else f"_{index + 1}"
        config = model.config.to_dict()
        dropped = 1 if entry["layer"] == "penultimate" else 0
        config["num_hidden_layers"] -= dropped
        pad = entry["pad_token"]
        config.update(
            bos_token_id=vocabulary.ids[BOS],
            eos_token_id=vocabulary.ids[EOS],
            pad_token_id=vocabulary.ids[pad],
        )
        model_class = type(model)
        copy = model_class(CLIPTextConfig.from_dict(config))
        copy.load_state_dict(model.state_dict(), strict=False)
        encoder_folder = folder / f"text_encoder{suffix}"
        copy.config.architectures = [model_class.__name__]
        copy.config.save_pretrained(encoder_folder)
        save_file(
            {key: value.contiguous() for key, value in copy.state_dict().items()},
            str(encoder_folder / "model.safetensors"),
        )
        vocabulary.write(folder / f"tokenizer{suffix}", pad)
        components[f"text_encoder{suffix}"] = ["transformers", model_class.__name__]
        components[f"tokenizer{suffix}"] = ["transformers", "CLIPTokenizer"]

    scheduler_values = dict(architecture_defaults(arch)["scheduler"])
    if v_prediction:
        scheduler_values["prediction_type"] = "v_prediction"
    EulerDiscreteScheduler(**scheduler_values).save_config(folder / "scheduler")
    pipeline = "StableDiffusionXLPipeline" if arch == "sdxl" else "StableDiffusionPipeline"
    index_file = {"_class_name": pipeline, **components}
    (folder / "model_index.json").write_text(json.dumps(index_file, indent=2), encoding="utf-8")


def _byte_alphabet() -> list[str]:
    """Return the 256 characters that byte-level BPE (GPT-2, CLIP) uses for the bytes 0..255.

    Printable Latin-1 bytes stand for themselves, and the others map to code
    points from 256 upwards, in byte order.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    characters = {}
    extra = 0
    for byte in range(256):
        if byte in printable:
            characters[byte] = chr(byte)
        else:
            characters[byte] = chr(256 + extra)
            extra += 1
    return [characters[byte] for byte in range(256)]


class _ClipVocabulary:
    """A CLIP-style BPE vocabulary: ids of tokens, merges, and writing tokenizer files."""

    def __init__(self, ids: dict[str, int], merges: list[str]) -> None:
        self.ids = ids
        self.merges = merges

    @staticmethod
    def shipped_ids() -> dict[str, int]:
        from .architectures import TOKENIZER_DIR

        with (TOKENIZER_DIR / "vocab.json").open(encoding="utf-8") as file:
            return json.load(file)

    @classmethod
    def generated(cls) -> _ClipVocabulary:
        """Build a small vocabulary: every byte alone and word-final, a few merges, two specials."""
        alphabet = _byte_alphabet()
        tokens = [*alphabet, *(char + "</w>" for char in alphabet)]
        merges = ["t h", "th e</w>", "a n", "an d</w>", "i n", "o n</w>"]
        tokens.extend(left + right for left, right in (merge.split(" ") for merge in merges))
        tokens.extend([BOS, EOS])
        return cls({token: index for index, token in enumerate(tokens)}, merges)

    def write(self, folder: Path, pad_token: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "vocab.json").write_text(json.dumps(self.ids), encoding="utf-8")
        (folder / "merges.txt").write_text(
            "#version: 0.2\n" + "\n".join(self.merges) + "\n", encoding="utf-8"
        )
        config = {
            "tokenizer_class": "CLIPTokenizer",
            "bos_token": BOS,
            "eos_token": EOS,
            "unk_token": EOS,
            "pad_token": pad_token,
            "model_max_length": 77,
            "do_lower_case": True,
        }
        (folder / "tokenizer_config.json").write_text(
            json.dumps(config, indent=2), encoding="utf-8"
        )


# -- LoRA -----------------------------------------------------------------------------------


def build_tiny_lora(
    path: Path, tiny: TinyCheckpoint, *, rank: int = 4, seed: int = 1, key_format: str = "kohya"
) -> Path:
    """Write a LoRA for every attention projection of a tiny model's UNet and text encoders.

    ``key_format`` is ``kohya`` (lora_unet_/lora_te*_ names, the UNet in the
    original layout's names) or ``peft`` (diffusers unet./text_encoder. names
    with lora_A/lora_B). The same seed gives the same factors in both formats.
    """
    unet_config = UNet2DConditionModel.load_config(tiny.diffusers_folder / "unet")
    up_attention = ["CrossAttn" in t for t in unet_config["up_block_types"]]
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(unet_config)
    unet_layers = [
        (name, module)
        for name, module in unet.named_modules()
        if name.endswith(("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn2.to_q", "attn2.to_out.0"))
    ]
    encoder_dirs = sorted(tiny.diffusers_folder.glob("text_encoder*"))

    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}

    def add(kohya_name: str, peft_name: str, in_features: int, out_features: int) -> None:
        down = torch.randn(rank, in_features, generator=generator) * 0.1
        up = torch.randn(out_features, rank, generator=generator) * 0.1
        if key_format == "kohya":
            tensors[kohya_name + ".lora_down.weight"] = down
            tensors[kohya_name + ".lora_up.weight"] = up
            tensors[kohya_name + ".alpha"] = torch.tensor(float(rank) / 2)
        else:
            # PEFT files have no alpha, so the up factor carries its scale.
            tensors[peft_name + ".lora_A.weight"] = down
            tensors[peft_name + ".lora_B.weight"] = up * 0.5

    for name, module in unet_layers:
        ldm = unet_module_to_ldm(name, unet_config["layers_per_block"], up_attention)
        add(
            "lora_unet_" + ldm.replace(".", "_"),
            "unet." + name,
            module.in_features,
            module.out_features,
        )
    for index, encoder_dir in enumerate(encoder_dirs):
        config = CLIPTextConfig.from_pretrained(encoder_dir)
        kohya_prefix = "lora_te_" if len(encoder_dirs) == 1 else f"lora_te{index + 1}_"
        peft_prefix = encoder_dir.name + "."
        for layer in range(config.num_hidden_layers):
            for projection in ("q_proj", "v_proj"):
                module = f"text_model.encoder.layers.{layer}.self_attn.{projection}"
                add(
                    kohya_prefix + module.replace(".", "_"),
                    peft_prefix + module,
                    config.hidden_size,
                    config.hidden_size,
                )
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path))
    return path
