"""Architecture detection and config inference from checkpoint headers, without loading weights."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import (
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
    create_unet_diffusers_config_from_ldm,
)
from safetensors.torch import load_file, save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from brushwork.engine import runtime
from brushwork.engine.paths import DataPaths
from brushwork.nodes.sd import CheckpointLoaderSimple
from brushwork.nodes.sd.architectures import inspect_checkpoint, read_safetensors_header
from brushwork.nodes.sd.testing import _original_layout
from tests.sd.conftest import ARCHES, SdData

# The UNet parameters of the published original configs:
# CompVis/stable-diffusion configs/stable-diffusion/v1-inference.yaml,
# Stability-AI/stablediffusion configs/stable-diffusion/v2-inference-v.yaml and
# Stability-AI/generative-models configs/inference/sd_xl_base.yaml.
PUBLISHED_UNETS = {
    "sd1": {
        "in_channels": 4,
        "out_channels": 4,
        "model_channels": 320,
        "attention_resolutions": [4, 2, 1],
        "num_res_blocks": 2,
        "channel_mult": [1, 2, 4, 4],
        "num_heads": 8,
        "transformer_depth": 1,
        "context_dim": 768,
    },
    "sd2": {
        "in_channels": 4,
        "out_channels": 4,
        "model_channels": 320,
        "attention_resolutions": [4, 2, 1],
        "num_res_blocks": 2,
        "channel_mult": [1, 2, 4, 4],
        "num_head_channels": 64,
        "use_linear_in_transformer": True,
        "transformer_depth": 1,
        "context_dim": 1024,
    },
    "sdxl": {
        "adm_in_channels": 2816,
        "num_classes": "sequential",
        "in_channels": 4,
        "out_channels": 4,
        "model_channels": 320,
        "attention_resolutions": [4, 2],
        "num_res_blocks": 2,
        "channel_mult": [1, 2, 4],
        "num_head_channels": 64,
        "use_linear_in_transformer": True,
        "transformer_depth": [1, 2, 10],
        "context_dim": 2048,
    },
}
PUBLISHED_VAE = {"ch": 128, "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "z_channels": 4}
# Text towers of OpenAI CLIP ViT-L/14 and open_clip ViT-H-14 and ViT-bigG-14:
# width, layers, heads and MLP width.
CLIP_L = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
}
OPEN_CLIP_H = {
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
}
OPEN_CLIP_BIGG = {
    "hidden_size": 1280,
    "num_hidden_layers": 32,
    "num_attention_heads": 20,
    "intermediate_size": 5120,
    "projection_dim": 1280,
}
COMPARED_KEYS = (
    "in_channels",
    "out_channels",
    "down_block_types",
    "up_block_types",
    "block_out_channels",
    "layers_per_block",
    "cross_attention_dim",
    "attention_head_dim",
    "use_linear_projection",
    "transformer_layers_per_block",
    "addition_embed_type",
    "addition_time_embed_dim",
    "projection_class_embeddings_input_dim",
)


def _original_config(arch: str) -> dict:
    return {
        "model": {
            "params": {
                "unet_config": {"params": PUBLISHED_UNETS[arch]},
                "first_stage_config": {"params": {"ddconfig": PUBLISHED_VAE}},
            }
        }
    }


def _full_size_layout(arch: str, reference: dict) -> dict[str, torch.Tensor]:
    """Return meta tensors named and shaped like a full-size original-layout checkpoint."""
    entries = {
        "sd1": [
            (
                {"format": "clip", "prefix": "cond_stage_model.transformer.text_model."},
                CLIP_L,
                False,
            )
        ],
        "sd2": [({"format": "open_clip", "prefix": "cond_stage_model.model."}, OPEN_CLIP_H, False)],
        "sdxl": [
            (
                {"format": "clip", "prefix": "conditioner.embedders.0.transformer.text_model."},
                CLIP_L,
                False,
            ),
            (
                {"format": "open_clip", "prefix": "conditioner.embedders.1.model."},
                OPEN_CLIP_BIGG,
                True,
            ),
        ],
    }[arch]
    with torch.device("meta"):
        unet = UNet2DConditionModel(
            **{key: reference[key] for key in COMPARED_KEYS if key in reference}
        )
        vae = AutoencoderKL(
            block_out_channels=(128, 256, 512, 512),
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            layers_per_block=2,
        )
        encoders = []
        for entry, sizes, pooled in entries:
            config = CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, **sizes)
            model_class = CLIPTextModelWithProjection if pooled else CLIPTextModel
            encoders.append((entry, model_class(config)))
    return _original_layout(arch, unet, vae, encoders)


def _diffusers_reference(arch: str) -> dict:
    """Return the UNet config that diffusers' own converter derives from the published config."""
    # The converter reads the checkpoint only to pick a default image size,
    # which these tests do not compare, so one SD 1.x key is enough.
    placeholder = {
        "model.diffusion_model.output_blocks.11.0.skip_connection.weight": torch.empty(
            0, device="meta"
        )
    }
    return create_unet_diffusers_config_from_ldm(_original_config(arch), placeholder)


@pytest.mark.parametrize("arch", ARCHES)
def test_full_size_unet_config_matches_diffusers(arch: str) -> None:
    reference = _diffusers_reference(arch)
    layout = _full_size_layout(arch, reference)
    spec = inspect_checkpoint({key: tuple(value.shape) for key, value in layout.items()})

    assert spec.arch == arch
    for key in COMPARED_KEYS:
        expected = reference.get(key)
        actual = spec.unet_config.get(key)
        if isinstance(expected, tuple | list):
            expected, actual = list(expected), list(actual)  # type: ignore[arg-type]
        assert actual == expected, key


@pytest.mark.parametrize("arch", ARCHES)
def test_full_size_layout_converts_to_every_diffusers_key(arch: str) -> None:
    reference = _diffusers_reference(arch)
    layout = _full_size_layout(arch, reference)
    spec = inspect_checkpoint({key: tuple(value.shape) for key, value in layout.items()})
    with torch.device("meta"):
        unet = UNet2DConditionModel(**spec.unet_config)
        vae = AutoencoderKL(**spec.vae_config)

    unet_keys = set(convert_ldm_unet_checkpoint(layout, spec.unet_config))
    vae_keys = set(convert_ldm_vae_checkpoint(layout, spec.vae_config))

    assert unet_keys == set(unet.state_dict())
    assert vae_keys == set(vae.state_dict())


@pytest.mark.parametrize("arch", ARCHES)
def test_full_size_text_encoders_are_inferred(arch: str) -> None:
    layout = _full_size_layout(arch, _diffusers_reference(arch))
    spec = inspect_checkpoint({key: tuple(value.shape) for key, value in layout.items()})
    expected = {
        "sd1": [CLIP_L],
        "sd2": [{**OPEN_CLIP_H, "num_hidden_layers": 23}],
        "sdxl": [CLIP_L, OPEN_CLIP_BIGG],
    }

    assert len(spec.text_encoders) == len(expected[arch])
    for encoder, sizes in zip(spec.text_encoders, expected[arch], strict=True):
        for key, value in sizes.items():
            assert encoder.config[key] == value, key
    assert spec.vae_config["block_out_channels"] == [128, 256, 512, 512]
    assert spec.vae_config["scaling_factor"] == (0.13025 if arch == "sdxl" else 0.18215)


@pytest.mark.parametrize("arch", ARCHES)
def test_tiny_checkpoint_is_recognized(sd_data: SdData, arch: str) -> None:
    spec = inspect_checkpoint(read_safetensors_header(sd_data.tiny[arch].checkpoint))

    assert spec.arch == arch
    assert CheckpointLoaderSimple.validate_inputs(ckpt_name=sd_data.file_name(arch)) is True
    assert CheckpointLoaderSimple.validate_inputs(ckpt_name=sd_data.folder_name(arch)) is True


# -- unsupported files -----------------------------------------------------------------


@pytest.fixture
def other_data_dir(tmp_path: Path, sd_data: SdData) -> Iterator[DataPaths]:
    paths = DataPaths(tmp_path / "data")
    paths.create()
    runtime.set_data_paths(paths)
    yield paths
    runtime.set_data_paths(sd_data.paths)


def _write(paths: DataPaths, name: str, tensors: dict[str, torch.Tensor]) -> str:
    save_file(tensors, str(paths.model_folder("checkpoints") / name))
    return name


def _tiny_sd1_tensors(sd_data: SdData) -> dict[str, torch.Tensor]:
    return load_file(str(sd_data.tiny["sd1"].checkpoint))


@pytest.mark.parametrize(
    ("key", "name"),
    [
        (
            "model.diffusion_model.joint_blocks.0.context_block.adaLN_modulation.1.bias",
            "Stable Diffusion 3",
        ),
        ("double_blocks.0.img_attn.norm.key_norm.scale", "Flux"),
        (
            "model.diffusion_model.input_blocks.1.0.time_stack.0.in_layers.0.bias",
            "Stable Video Diffusion",
        ),
        ("edm_mean", "Playground v2.5"),
    ],
)
def test_known_architecture_is_named(other_data_dir: DataPaths, key: str, name: str) -> None:
    file = _write(other_data_dir, "other.safetensors", {key: torch.zeros(2)})

    message = CheckpointLoaderSimple.validate_inputs(ckpt_name=file)

    assert isinstance(message, str)
    assert name in message
    assert "unsupported checkpoint architecture" in message


def test_inpainting_unet_is_named(other_data_dir: DataPaths, sd_data: SdData) -> None:
    tensors = _tiny_sd1_tensors(sd_data)
    tensors["model.diffusion_model.input_blocks.0.0.weight"] = torch.zeros(32, 9, 3, 3)
    file = _write(other_data_dir, "inpaint.safetensors", tensors)

    message = CheckpointLoaderSimple.validate_inputs(ckpt_name=file)

    assert isinstance(message, str)
    assert "inpainting" in message
    assert "9 input channels" in message


def test_sdxl_refiner_is_named(other_data_dir: DataPaths, sd_data: SdData) -> None:
    tensors = {
        k: v for k, v in _tiny_sd1_tensors(sd_data).items() if not k.startswith("cond_stage_model.")
    }
    tensors["conditioner.embedders.0.model.token_embedding.weight"] = torch.zeros(8, 4)
    file = _write(other_data_dir, "refiner.safetensors", tensors)

    message = CheckpointLoaderSimple.validate_inputs(ckpt_name=file)

    assert isinstance(message, str)
    assert "Stable Diffusion XL refiner" in message


def test_unet_without_vae_is_rejected(other_data_dir: DataPaths, sd_data: SdData) -> None:
    tensors = {
        k: v
        for k, v in _tiny_sd1_tensors(sd_data).items()
        if not k.startswith("first_stage_model.")
    }
    file = _write(other_data_dir, "unet-only.safetensors", tensors)

    message = CheckpointLoaderSimple.validate_inputs(ckpt_name=file)

    assert isinstance(message, str)
    assert "no VAE" in message


def test_unrecognized_keys_are_listed(other_data_dir: DataPaths) -> None:
    file = _write(other_data_dir, "random.safetensors", {"encoder.layer.weight": torch.zeros(2)})

    message = CheckpointLoaderSimple.validate_inputs(ckpt_name=file)

    assert isinstance(message, str)
    assert "unrecognized checkpoint architecture" in message
    assert "encoder" in message


def test_non_safetensors_file_is_rejected(other_data_dir: DataPaths) -> None:
    (other_data_dir.model_folder("checkpoints") / "notes.safetensors").write_text(
        "hello", encoding="utf-8"
    )

    message = CheckpointLoaderSimple.validate_inputs(ckpt_name="notes.safetensors")

    assert isinstance(message, str)
    assert "not a safetensors file" in message


def test_unsupported_diffusers_pipeline_is_named(other_data_dir: DataPaths) -> None:
    folder = other_data_dir.model_folder("diffusers") / "sd3"
    folder.mkdir()
    (folder / "model_index.json").write_text(
        '{"_class_name": "StableDiffusion3Pipeline"}', encoding="utf-8"
    )

    message = CheckpointLoaderSimple.validate_inputs(ckpt_name="sd3")

    assert isinstance(message, str)
    assert "StableDiffusion3Pipeline" in message


def test_missing_checkpoint_names_folders(other_data_dir: DataPaths) -> None:
    message = CheckpointLoaderSimple.validate_inputs(ckpt_name="absent.safetensors")

    assert isinstance(message, str)
    assert "not found" in message
    assert "models/checkpoints" in message


def test_path_outside_model_folders_is_not_found(
    other_data_dir: DataPaths, sd_data: SdData
) -> None:
    outside = "../../" + str(sd_data.tiny["sd1"].checkpoint)

    message = CheckpointLoaderSimple.validate_inputs(ckpt_name=outside)

    assert isinstance(message, str)
    assert "not found" in message


def test_symlinked_checkpoint_loads(other_data_dir: DataPaths, sd_data: SdData) -> None:
    link = other_data_dir.model_folder("checkpoints") / "linked.safetensors"
    link.symlink_to(sd_data.tiny["sd1"].checkpoint)

    assert CheckpointLoaderSimple.validate_inputs(ckpt_name="linked.safetensors") is True
