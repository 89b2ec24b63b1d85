"""The default text-to-image graph on tiny models of every architecture, in both formats."""

from __future__ import annotations

import pytest
import torch

from brushwork.engine.artifacts import ArtifactStore
from brushwork.engine.values import decode_value, encode_value
from brushwork.errors import CancelledByUserError
from tests.sd.conftest import ARCHES, SdData
from tests.sd.graph import Loaded, decode, default_graph, empty_latent, ksampler, load


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("source", ["file", "folder"])
def test_default_graph_gives_finite_image(
    sd_data: SdData, make_context, arch: str, source: str
) -> None:
    name = sd_data.file_name(arch) if source == "file" else sd_data.folder_name(arch)
    image = default_graph(make_context(), name)

    assert image.shape == (1, 64, 64, 3)
    assert image.dtype == torch.float32
    assert torch.isfinite(image).all()
    assert image.min() >= 0
    assert image.max() <= 1
    assert image.std() > 0


def test_default_graph_with_comfyui_defaults(sd_data: SdData, make_context) -> None:
    progress: list[tuple[float, float]] = []
    image = default_graph(make_context(progress=progress), sd_data.file_name("sd1"), steps=20)

    assert torch.isfinite(image).all()
    assert progress == [(float(step), 20.0) for step in range(1, 21)]


@pytest.mark.parametrize("arch", ARCHES)
def test_same_seed_gives_identical_bytes(sd_data: SdData, make_context, arch: str) -> None:
    first = default_graph(make_context(), sd_data.file_name(arch), sampler_name="euler_ancestral")
    second = default_graph(make_context(), sd_data.file_name(arch), sampler_name="euler_ancestral")

    assert first.numpy().tobytes() == second.numpy().tobytes()


def test_other_seed_gives_other_image(sd_data: SdData, make_context) -> None:
    first = default_graph(make_context(), sd_data.file_name("sd1"), seed=1)
    second = default_graph(make_context(), sd_data.file_name("sd1"), seed=2)

    assert not torch.equal(first, second)


def test_largest_seed_is_accepted(sd_data: SdData, make_context) -> None:
    image = default_graph(make_context(), sd_data.file_name("sd1"), seed=0xFFFF_FFFF_FFFF_FFFF)

    assert torch.isfinite(image).all()


def test_batch_gives_distinct_images(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    image = decode(ctx, loaded, ksampler(ctx, loaded, empty_latent(ctx, batch_size=2)))

    assert image.shape == (2, 64, 64, 3)
    assert not torch.equal(image[0], image[1])


def test_non_square_size(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sdxl"))
    latent = {"samples": torch.zeros(1, 4, 8, 12)}
    image = decode(ctx, loaded, ksampler(ctx, loaded, latent))

    assert image.shape == (1, 64, 96, 3)


def test_long_prompt_is_encoded_in_chunks(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    from brushwork.nodes.sd import CLIPTextEncode

    (long_prompt,) = CLIPTextEncode().execute(ctx, text="a red bottle, " * 40, clip=loaded.clip)
    latent = ksampler(ctx, loaded, empty_latent(ctx), positive=long_prompt)

    assert long_prompt[0][0].shape == (1, 3 * 77, 32)
    assert torch.isfinite(latent["samples"]).all()


def test_cfg_one_skips_negative(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    with_negative = ksampler(ctx, loaded, empty_latent(ctx), cfg=1.0)
    other_negative = ksampler(ctx, loaded, empty_latent(ctx), cfg=1.0, negative=loaded.positive)

    assert torch.equal(with_negative["samples"], other_negative["samples"])


def test_sdxl_conditioning_has_pooled_output(sd_data: SdData, make_context) -> None:
    loaded = load(make_context(), sd_data.file_name("sdxl"))
    cond, options = loaded.positive[0]

    assert cond.shape == (1, 77, 64)
    assert options["pooled_output"].shape == (1, 32)


def test_latent_output_is_storable(sd_data: SdData, make_context, tmp_path) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    latent = ksampler(ctx, loaded, empty_latent(ctx))
    store = ArtifactStore(tmp_path)

    item = encode_value("LATENT", latent, store)
    restored = decode_value(item, store)

    assert item.kind == "artifact"
    assert torch.equal(restored["samples"], latent["samples"])
    assert encode_value("MODEL", loaded.model, store).kind == "transient"
    assert encode_value("CONDITIONING", loaded.positive, store).kind == "transient"


def test_interrupt_stops_sampling(sd_data: SdData, make_context) -> None:
    loaded = load(make_context(), sd_data.file_name("sd1"))
    ctx = make_context(interrupt_after=1)

    with pytest.raises(CancelledByUserError):
        ksampler(ctx, loaded, empty_latent(ctx), steps=4)


def test_interrupt_progress_stops_after_first_step(sd_data: SdData, make_context) -> None:
    loaded = load(make_context(), sd_data.file_name("sd1"))
    progress: list[tuple[float, float]] = []
    ctx = make_context(interrupt_after=1, progress=progress)

    with pytest.raises(CancelledByUserError):
        ksampler(ctx, loaded, empty_latent(ctx), steps=4)
    assert progress == [(1.0, 4.0)]


def test_combined_conditioning_averages_entries(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    combined = [*loaded.positive, *loaded.negative]

    single = ksampler(ctx, loaded, empty_latent(ctx))
    both = ksampler(ctx, loaded, empty_latent(ctx), positive=combined)

    assert torch.isfinite(both["samples"]).all()
    assert not torch.equal(single["samples"], both["samples"])


def test_area_conditioning_is_rejected(sd_data: SdData, make_context) -> None:
    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    cond, options = loaded.positive[0]
    with_area = [[cond, {**options, "area": (8, 8, 0, 0)}]]

    with pytest.raises(ValueError, match="'area' is not supported"):
        ksampler(ctx, loaded, empty_latent(ctx), positive=with_area)


def test_in_memory_checkpoint_matches_loaded_file(sd_data: SdData, make_context) -> None:
    from transformers import CLIPTextModel

    from brushwork.nodes.sd.architectures import architecture_defaults
    from brushwork.nodes.sd.loading import (
        load_folder_unet,
        load_folder_vae,
        shipped_tokenizer,
    )
    from brushwork.nodes.sd.models import SDModel, in_memory_checkpoint, open_checkpoint

    ctx = make_context()
    loaded = load(ctx, sd_data.file_name("sd1"))
    folder = sd_data.tiny["sd1"].diffusers_folder
    with open_checkpoint(sd_data.tiny["sd1"].checkpoint, "cpu").text_encoders[0].slot.use() as text:
        text_state = text.state_dict()
    text_encoder = CLIPTextModel(text.config)
    text_encoder.load_state_dict(text_state)
    checkpoint = in_memory_checkpoint(
        "in-memory",
        "sd1",
        "cpu",
        unet=load_folder_unet(folder),
        vae=load_folder_vae(folder),
        text_encoders=[text_encoder],
        tokenizers=[shipped_tokenizer()],
        scheduler_config=dict(architecture_defaults("sd1")["scheduler"]),
        vae_scaling_factor=0.18215,
    )
    in_memory = Loaded(
        SDModel(checkpoint), loaded.clip, loaded.vae, loaded.positive, loaded.negative
    )

    expected = ksampler(ctx, loaded, empty_latent(ctx))["samples"]
    actual = ksampler(ctx, in_memory, empty_latent(ctx))["samples"]

    assert actual.numpy().tobytes() == expected.numpy().tobytes()
