"""Node specs: ComfyUI names and inputs, combo lists from the data directory, lanes."""

from __future__ import annotations

import os

from brushwork.engine.registry import NodeRegistry
from brushwork.nodes.sd import NODE_CLASSES, CheckpointLoaderSimple, LoraLoader
from tests.sd.conftest import ARCHES, SdData

COMFYUI_INPUTS = {
    "CheckpointLoaderSimple": ["ckpt_name"],
    "CLIPTextEncode": ["text", "clip"],
    "EmptyLatentImage": ["width", "height", "batch_size"],
    "KSampler": [
        "model",
        "seed",
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "positive",
        "negative",
        "latent_image",
        "denoise",
    ],
    "KSamplerAdvanced": [
        "model",
        "add_noise",
        "noise_seed",
        "steps",
        "cfg",
        "sampler_name",
        "scheduler",
        "positive",
        "negative",
        "latent_image",
        "start_at_step",
        "end_at_step",
        "return_with_leftover_noise",
    ],
    "VAEDecode": ["samples", "vae"],
    "VAEEncode": ["pixels", "vae"],
    "LoraLoader": ["model", "clip", "lora_name", "strength_model", "strength_clip"],
    "LatentUpscale": ["samples", "upscale_method", "width", "height", "crop"],
    "LatentUpscaleBy": ["samples", "upscale_method", "scale_by"],
}
COMFYUI_OUTPUTS = {
    "CheckpointLoaderSimple": ["MODEL", "CLIP", "VAE"],
    "CLIPTextEncode": ["CONDITIONING"],
    "EmptyLatentImage": ["LATENT"],
    "KSampler": ["LATENT"],
    "KSamplerAdvanced": ["LATENT"],
    "VAEDecode": ["IMAGE"],
    "VAEEncode": ["LATENT"],
    "LoraLoader": ["MODEL", "CLIP"],
    "LatentUpscale": ["LATENT"],
    "LatentUpscaleBy": ["LATENT"],
}


def test_inputs_and_outputs_match_comfyui() -> None:
    info = NodeRegistry(NODE_CLASSES).object_info()

    assert set(info) == set(COMFYUI_INPUTS)
    for class_type, names in COMFYUI_INPUTS.items():
        assert info[class_type]["input_order"]["required"] == names, class_type
        assert info[class_type]["output"] == COMFYUI_OUTPUTS[class_type], class_type


def test_torch_nodes_run_on_device_lane() -> None:
    lanes = {cls.class_type: cls.lane for cls in NODE_CLASSES}

    for class_type in (
        "CheckpointLoaderSimple",
        "LoraLoader",
        "CLIPTextEncode",
        "KSampler",
        "KSamplerAdvanced",
        "VAEDecode",
        "VAEEncode",
    ):
        assert lanes[class_type] == "device", class_type


def test_checkpoint_list_has_files_and_folders(sd_data: SdData) -> None:
    choices = CheckpointLoaderSimple.object_info()["input"]["required"]["ckpt_name"][0]

    for arch in ARCHES:
        assert sd_data.file_name(arch) in choices
        assert sd_data.folder_name(arch) in choices
    assert not any("/unet/" in name or name.endswith("model.safetensors") for name in choices)


def test_lora_list_reads_loras_folder(sd_data: SdData) -> None:
    choices = LoraLoader.object_info()["input"]["required"]["lora_name"][0]

    assert "tiny-sd1-kohya.safetensors" in choices
    assert "tiny-sd1-peft.safetensors" in choices


def test_fingerprint_changes_with_file(sd_data: SdData) -> None:
    name = sd_data.file_name("sd1")
    before = CheckpointLoaderSimple.fingerprint(None, ckpt_name=name)
    stat = sd_data.tiny["sd1"].checkpoint.stat()
    os.utime(sd_data.tiny["sd1"].checkpoint, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    after = CheckpointLoaderSimple.fingerprint(None, ckpt_name=name)

    assert before != after
    assert CheckpointLoaderSimple.fingerprint(None, ckpt_name="absent.safetensors") is None
