"""LoraLoader: LoRA changes the image, strength 0 and unpatched models keep their bytes."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import save_file
from structlog.testing import capture_logs

from brushwork.nodes.sd import LoraLoader
from tests.sd.conftest import SdData
from tests.sd.graph import Loaded, decode, empty_latent, ksampler, load


def _with_lora(
    ctx, loaded: Loaded, lora_name: str, strength_model: float, strength_clip: float
) -> Loaded:
    from brushwork.nodes.sd import CLIPTextEncode
    from tests.sd.graph import NEGATIVE, POSITIVE

    model, clip = LoraLoader().execute(
        ctx,
        model=loaded.model,
        clip=loaded.clip,
        lora_name=lora_name,
        strength_model=strength_model,
        strength_clip=strength_clip,
    )
    (positive,) = CLIPTextEncode().execute(ctx, text=POSITIVE, clip=clip)
    (negative,) = CLIPTextEncode().execute(ctx, text=NEGATIVE, clip=clip)
    return Loaded(model, clip, loaded.vae, positive, negative)


def _image(ctx, loaded: Loaded) -> torch.Tensor:
    return decode(ctx, loaded, ksampler(ctx, loaded, empty_latent(ctx)))


@pytest.fixture
def base(sd_data: SdData, make_context) -> Loaded:
    return load(make_context(), sd_data.file_name("sd1"))


def test_lora_changes_image(make_context, base: Loaded) -> None:
    ctx = make_context()
    plain = _image(ctx, base)
    patched = _image(ctx, _with_lora(ctx, base, "tiny-sd1-kohya.safetensors", 1.0, 1.0))

    assert torch.isfinite(patched).all()
    assert not torch.equal(plain, patched)


def test_strength_zero_equals_no_lora(make_context, base: Loaded) -> None:
    ctx = make_context()
    plain = _image(ctx, base)
    zero = _with_lora(ctx, base, "tiny-sd1-kohya.safetensors", 0.0, 0.0)

    assert zero.model is base.model
    assert _image(ctx, zero).numpy().tobytes() == plain.numpy().tobytes()


@pytest.mark.parametrize(("strength_model", "strength_clip"), [(1.0, 0.0), (0.0, 1.0), (-0.5, 0.0)])
def test_each_strength_changes_image(
    make_context, base: Loaded, strength_model: float, strength_clip: float
) -> None:
    ctx = make_context()
    plain = _image(ctx, base)
    patched = _image(
        ctx, _with_lora(ctx, base, "tiny-sd1-kohya.safetensors", strength_model, strength_clip)
    )

    assert torch.isfinite(patched).all()
    assert not torch.equal(plain, patched)


def test_unpatched_model_restored_after_lora(make_context, base: Loaded) -> None:
    ctx = make_context()
    before = _image(ctx, base)
    _image(ctx, _with_lora(ctx, base, "tiny-sd1-kohya.safetensors", 1.0, 1.0))

    after = _image(ctx, base)

    assert after.numpy().tobytes() == before.numpy().tobytes()


def test_kohya_and_peft_formats_give_same_image(make_context, base: Loaded) -> None:
    ctx = make_context()
    kohya = _image(ctx, _with_lora(ctx, base, "tiny-sd1-kohya.safetensors", 0.8, 0.8))
    peft = _image(ctx, _with_lora(ctx, base, "tiny-sd1-peft.safetensors", 0.8, 0.8))

    assert kohya.numpy().tobytes() == peft.numpy().tobytes()


def test_two_loras_stack(make_context, base: Loaded) -> None:
    ctx = make_context()
    once = _with_lora(ctx, base, "tiny-sd1-kohya.safetensors", 1.0, 1.0)
    twice = _with_lora(ctx, once, "tiny-sd1-peft.safetensors", 1.0, 1.0)

    assert not torch.equal(_image(ctx, once), _image(ctx, twice))


def test_sdxl_lora_reaches_both_text_encoders(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    base = load(ctx, sd_data.file_name("sdxl"))
    patched = _with_lora(ctx, base, "tiny-sdxl-kohya.safetensors", 0.0, 1.0)

    first, second = base.positive[0], patched.positive[0]
    assert not torch.equal(first[0][..., :32], second[0][..., :32])
    assert not torch.equal(first[0][..., 32:], second[0][..., 32:])
    assert not torch.equal(first[1]["pooled_output"], second[1]["pooled_output"])


def test_partly_matching_lora_warns(make_context, base: Loaded) -> None:
    ctx = make_context()
    other = _with_lora(ctx, base, "tiny-sdxl-kohya.safetensors", 1.0, 0.0)

    with capture_logs() as logs:
        image = _image(ctx, other)

    assert torch.isfinite(image).all()
    warnings = [entry for entry in logs if entry["event"] == "lora layers not found in model"]
    assert len(warnings) == 1
    assert warnings[0]["count"] > 0


def _write_lora(sd_data: SdData, name: str, tensors: dict[str, torch.Tensor]) -> str:
    save_file(tensors, str(sd_data.paths.model_folder("loras") / name))
    return name


def test_lora_with_wrong_shape_fails_clearly(sd_data: SdData, make_context, base: Loaded) -> None:
    ctx = make_context()
    name = _write_lora(
        sd_data,
        "wrong-shape.safetensors",
        {
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.ones(2, 7),
            "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.ones(5, 2),
        },
    )
    patched = _with_lora(ctx, base, name, 1.0, 0.0)

    with pytest.raises(ValueError, match="does not fit this model"):
        _image(ctx, patched)
    assert _image(ctx, base).numpy().tobytes() == _image(ctx, base).numpy().tobytes()


def test_lora_matching_nothing_fails_clearly(sd_data: SdData, make_context, base: Loaded) -> None:
    ctx = make_context()
    name = _write_lora(
        sd_data,
        "no-match.safetensors",
        {
            "lora_unet_single_blocks_0_linear1.lora_down.weight": torch.ones(2, 4),
            "lora_unet_single_blocks_0_linear1.lora_up.weight": torch.ones(4, 2),
        },
    )
    patched = _with_lora(ctx, base, name, 1.0, 0.0)

    with pytest.raises(ValueError, match="matches no layer"):
        _image(ctx, patched)


def test_unpatched_weights_restored_after_failure(
    sd_data: SdData, make_context, base: Loaded
) -> None:
    ctx = make_context()
    before = _image(ctx, base)
    name = _write_lora(
        sd_data,
        "half-wrong.safetensors",
        {
            "lora_unet_down_blocks_0_attentions_0_proj_out.lora_down.weight": torch.ones(2, 32),
            "lora_unet_down_blocks_0_attentions_0_proj_out.lora_up.weight": torch.ones(32, 2),
            "lora_unet_up_blocks_1_attentions_0_proj_in.lora_down.weight": torch.ones(2, 7),
            "lora_unet_up_blocks_1_attentions_0_proj_in.lora_up.weight": torch.ones(5, 2),
        },
    )

    with pytest.raises(ValueError, match="does not fit this model"):
        _image(ctx, _with_lora(ctx, base, name, 1.0, 0.0))

    assert _image(ctx, base).numpy().tobytes() == before.numpy().tobytes()


def test_validation_rejects_missing_and_non_lora_files(sd_data: SdData) -> None:
    shutil.copy(
        sd_data.tiny["sd1"].checkpoint,
        sd_data.paths.model_folder("loras") / "not-a-lora.safetensors",
    )

    missing = LoraLoader.validate_inputs(lora_name="absent.safetensors")
    not_lora = LoraLoader.validate_inputs(lora_name="not-a-lora.safetensors")

    assert isinstance(missing, str)
    assert "not found" in missing
    assert isinstance(not_lora, str)
    assert "no LoRA layers" in not_lora
    assert LoraLoader.validate_inputs(lora_name="tiny-sd1-kohya.safetensors") is True
    (sd_data.paths.model_folder("loras") / "not-a-lora.safetensors").unlink()
