"""Loading tiny checkpoints: both formats give the same weights, with offline tokenizers."""

from __future__ import annotations

import pytest
import torch
from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint
from safetensors.torch import load_file, save_file

from brushwork.nodes.sd.loading import shipped_tokenizer
from brushwork.nodes.sd.lora import unet_aliases
from brushwork.nodes.sd.models import open_checkpoint
from brushwork.nodes.sd.testing import build_tiny_checkpoint
from tests.sd.conftest import ARCHES, SdData


def _state(slot) -> dict[str, torch.Tensor]:
    with slot.use() as module:
        return {key: value.clone() for key, value in module.state_dict().items()}


def _assert_same_weights(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> None:
    assert set(first) == set(second)
    for key, value in first.items():
        assert torch.equal(value, second[key]), key


@pytest.mark.parametrize("arch", ARCHES)
def test_file_and_folder_load_same_weights(sd_data: SdData, arch: str) -> None:
    from_file = open_checkpoint(sd_data.tiny[arch].checkpoint, "cpu")
    from_folder = open_checkpoint(sd_data.tiny[arch].diffusers_folder, "cpu")

    assert from_file.arch == from_folder.arch == arch
    _assert_same_weights(_state(from_file.unet), _state(from_folder.unet))
    _assert_same_weights(_state(from_file.vae), _state(from_folder.vae))
    assert len(from_file.text_encoders) == len(from_folder.text_encoders)
    for file_encoder, folder_encoder in zip(
        from_file.text_encoders, from_folder.text_encoders, strict=True
    ):
        _assert_same_weights(_state(file_encoder.slot), _state(folder_encoder.slot))
        assert file_encoder.layer == folder_encoder.layer
        assert file_encoder.pooled == folder_encoder.pooled


@pytest.mark.parametrize(
    ("arch", "prefix", "index"),
    [("sd2", "cond_stage_model.model.", 0), ("sdxl", "conditioner.embedders.1.model.", 1)],
)
def test_open_clip_conversion_matches_diffusers(
    sd_data: SdData, arch: str, prefix: str, index: int
) -> None:
    checkpoint = open_checkpoint(sd_data.tiny[arch].checkpoint, "cpu")
    loaded = _state(checkpoint.text_encoders[index].slot)
    with checkpoint.text_encoders[index].slot.use() as model:
        reference = convert_open_clip_checkpoint(
            model, load_file(str(sd_data.tiny[arch].checkpoint)), prefix=prefix
        )

    for key, value in loaded.items():
        reference_key = (
            key if key.startswith(("text_model.", "text_projection")) else "text_model." + key
        )
        assert torch.equal(value, reference[reference_key]), key


def test_sd2_text_encoder_drops_last_layer(sd_data: SdData) -> None:
    checkpoint = open_checkpoint(sd_data.tiny["sd2"].checkpoint, "cpu")
    file_layers = {
        key.split(".")[4]
        for key in load_file(str(sd_data.tiny["sd2"].checkpoint))
        if ".resblocks." in key
    }

    with checkpoint.text_encoders[0].slot.use() as model:
        assert model.config.num_hidden_layers == len(file_layers) - 1


def test_shipped_tokenizer_loads_offline() -> None:
    tokenizer = shipped_tokenizer()

    assert tokenizer.model_max_length == 77
    assert tokenizer.bos_token_id == 49406
    assert tokenizer.eos_token_id == 49407
    assert tokenizer.encode("a photo of a cat", add_special_tokens=False) == [
        320,
        1125,
        539,
        320,
        2368,
    ]


def test_folder_uses_its_own_tokenizer(sd_data: SdData) -> None:
    checkpoint = open_checkpoint(sd_data.tiny["sd1"].diffusers_folder, "cpu")
    tokenizer = checkpoint.text_encoders[0].tokenizer

    assert len(tokenizer) < 1000
    assert tokenizer.encode("the", add_special_tokens=False) == [
        tokenizer.convert_tokens_to_ids("the</w>")
    ]


def test_v_pred_key_selects_v_prediction(tmp_path) -> None:
    tiny = build_tiny_checkpoint(tmp_path, "sdxl", v_prediction=True)

    assert open_checkpoint(tiny.checkpoint, "cpu").prediction_type == "v_prediction"
    assert open_checkpoint(tiny.diffusers_folder, "cpu").prediction_type == "v_prediction"


def test_epsilon_is_the_default(sd_data: SdData) -> None:
    for arch in ARCHES:
        assert open_checkpoint(sd_data.tiny[arch].checkpoint, "cpu").prediction_type == "epsilon"


def test_changed_file_is_reopened(tmp_path) -> None:
    tiny = build_tiny_checkpoint(tmp_path, "sd1", seed=4)
    first = open_checkpoint(tiny.checkpoint, "cpu")
    with first.unet.use():
        pass
    build_tiny_checkpoint(tmp_path, "sd1", seed=5)

    second = open_checkpoint(tiny.checkpoint, "cpu")

    assert second is not first
    assert not first.unet.loaded


def test_lora_aliases_cover_every_original_unet_layer(sd_data: SdData) -> None:
    checkpoint = open_checkpoint(sd_data.tiny["sd1"].checkpoint, "cpu")
    weights = [
        key.removeprefix("model.").removesuffix(".weight")
        for key in load_file(str(sd_data.tiny["sd1"].checkpoint))
        if key.startswith("model.diffusion_model.") and key.endswith(".weight")
    ]
    with checkpoint.unet.use() as unet:
        aliases = unet_aliases(unet, checkpoint.unet_config)

    missing = [name for name in weights if name not in aliases]
    assert not missing


@pytest.mark.parametrize(("std", "expected"), [(0.2, "v_prediction"), (0.01, "epsilon")])
def test_sd2_norm_bias_spread_selects_prediction(
    sd_data: SdData, tmp_path, std: float, expected: str
) -> None:
    tensors = load_file(str(sd_data.tiny["sd2"].checkpoint))
    probe = "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias"
    generator = torch.Generator().manual_seed(0)
    tensors[probe] = (torch.randn(1280, generator=generator) * std).to(torch.bfloat16)
    path = tmp_path / "sd2-probe.safetensors"
    save_file(tensors, str(path))

    assert open_checkpoint(path, "cpu").prediction_type == expected
