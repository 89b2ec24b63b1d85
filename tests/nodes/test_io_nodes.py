"""LoadImage, SaveImage and PreviewImage against real files in a temporary data directory."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from brushwork.engine import runtime
from brushwork.engine.artifacts import ArtifactStore
from brushwork.engine.context import InterruptFlag, NodeContext
from brushwork.engine.node import NodeOutput
from brushwork.engine.paths import DataPaths
from brushwork.errors import CancelledByUserError, NotFoundError, ValidationError
from brushwork.nodes import image, io_nodes, mask, primitives
from brushwork.nodes.io_nodes import LoadImage, PreviewImage, SaveImage

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def paths(tmp_path, monkeypatch):
    data = DataPaths(tmp_path / "data")
    data.create()
    monkeypatch.setattr(runtime, "_paths", data)
    return data


def make_context(paths, *, prompt=None, extra_data=None, interrupt=None):
    return NodeContext(
        prompt_id="prompt-1",
        node_id="9",
        class_type="SaveImage",
        attempt=1,
        paths=paths,
        artifacts=ArtifactStore(paths.artifacts),
        prompt=prompt if prompt is not None else {},
        extra_data=extra_data if extra_data is not None else {},
        interrupt=interrupt or InterruptFlag(),
    )


@pytest.fixture
def ctx(paths):
    return make_context(paths)


def write_rgb(path, pixels):
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), "RGB").save(path)


def save(ctx, images, prefix="ComfyUI"):
    return SaveImage().execute(ctx, images=images, filename_prefix=prefix)


def png_text(path):
    with Image.open(path) as picture:
        return dict(picture.text)


# -- LoadImage ------------------------------------------------------------------


def test_image_list_filters_and_sorts(paths):
    for name in ("b.png", "a.jpg", "notes.txt", ".hidden.png", "c.webp"):
        (paths.input / name).write_bytes(b"x")
    (paths.input / "folder.png").mkdir()

    assert LoadImage.input_map()["image"].current_choices() == ["a.jpg", "b.png", "c.webp"]


def test_image_input_spec(paths):
    write_rgb(paths.input / "one.png", np.zeros((1, 1, 3)))

    spec = LoadImage.object_info()["input"]["required"]["image"]

    assert spec == [["one.png"], {"image_upload": True}]


def test_load_rgb_pixels(ctx, paths):
    pixels = np.array([[[0, 51, 255], [128, 7, 200]]], dtype=np.uint8)
    write_rgb(paths.input / "rgb.png", pixels)

    loaded, _ = LoadImage().execute(ctx, image="rgb.png")

    assert loaded.shape == (1, 1, 2, 3)
    assert loaded.dtype == torch.float32
    assert torch.equal(loaded[0], torch.from_numpy(pixels.astype(np.float32) / 255.0))


def test_load_without_alpha_gives_zero_mask(ctx, paths):
    write_rgb(paths.input / "rgb.png", np.full((3, 5, 3), 9))

    _, alpha_mask = LoadImage().execute(ctx, image="rgb.png")

    assert alpha_mask.shape == (1, 64, 64)
    assert alpha_mask.abs().sum().item() == 0.0


def test_load_rgba_mask_is_inverted_alpha(ctx, paths):
    pixels = np.zeros((1, 3, 4), dtype=np.uint8)
    pixels[0, :, 3] = [0, 51, 255]
    Image.fromarray(pixels, "RGBA").save(paths.input / "rgba.png")

    loaded, alpha_mask = LoadImage().execute(ctx, image="rgba.png")

    assert loaded.shape == (1, 1, 3, 3)
    expected = 1.0 - torch.tensor([[[0.0, 51.0, 255.0]]]) / 255.0
    assert torch.allclose(alpha_mask, expected)


def test_load_palette_transparency_mask(ctx, paths):
    picture = Image.new("P", (2, 1))
    picture.putpalette([0, 0, 0, 255, 255, 255])
    picture.putpixel((1, 0), 1)
    picture.info["transparency"] = 0
    picture.save(paths.input / "palette.png", transparency=0)

    _, alpha_mask = LoadImage().execute(ctx, image="palette.png")

    assert torch.equal(alpha_mask, torch.tensor([[[1.0, 0.0]]]))


def test_load_applies_exif_orientation(ctx, paths):
    pixels = np.zeros((2, 3, 3), dtype=np.uint8)
    pixels[0, 0] = [255, 0, 0]
    picture = Image.fromarray(pixels, "RGB")
    exif = picture.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    picture.save(paths.input / "rotated.png", exif=exif)

    loaded, _ = LoadImage().execute(ctx, image="rotated.png")

    assert loaded.shape == (1, 3, 2, 3)
    assert loaded[0, 0, 1, 0].item() == 1.0


def test_load_frames_as_batch(ctx, paths):
    frames = [Image.new("RGB", (4, 3), (value, value, value)) for value in (0, 100, 200)]
    frames[0].save(paths.input / "frames.tiff", save_all=True, append_images=frames[1:])

    loaded, alpha_mask = LoadImage().execute(ctx, image="frames.tiff")

    assert loaded.shape == (3, 3, 4, 3)
    assert alpha_mask.shape == (3, 64, 64)
    assert loaded[:, 0, 0, 0].tolist() == pytest.approx([0.0, 100 / 255, 200 / 255])


def test_load_skips_frames_of_other_size(ctx, paths):
    frames = [Image.new("RGB", (4, 3)), Image.new("RGB", (5, 3)), Image.new("RGB", (4, 3))]
    frames[0].save(paths.input / "mixed.tiff", save_all=True, append_images=frames[1:])

    loaded, _ = LoadImage().execute(ctx, image="mixed.tiff")

    assert loaded.shape == (2, 3, 4, 3)


def test_load_16_bit_scaling(ctx, paths):
    # ComfyUI divides 16-bit values by 255 and clips, so 255 * v maps to v.
    values = np.array([[0, 255 * 100, 255 * 255, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(paths.input / "deep.png")

    loaded, _ = LoadImage().execute(ctx, image="deep.png")

    assert loaded[0, 0, :, 0].tolist() == pytest.approx([0.0, 100 / 255, 1.0, 1.0])


def test_load_missing_file(ctx):
    with pytest.raises(NotFoundError, match=r"absent\.png"):
        LoadImage().execute(ctx, image="absent.png")


def test_load_output_annotation(ctx, paths):
    write_rgb(paths.output / "made.png", np.full((1, 1, 3), 255))

    loaded, _ = LoadImage().execute(ctx, image="made.png [output]")

    assert loaded[0, 0, 0, 0].item() == 1.0


def test_validate_missing_file_names_it(paths):
    message = LoadImage.validate_inputs(image="absent.png")

    assert isinstance(message, str)
    assert "absent.png" in message


def test_validate_existing_file(paths):
    write_rgb(paths.input / "here.png", np.zeros((1, 1, 3)))

    assert LoadImage.validate_inputs(image="here.png") is True


@pytest.mark.parametrize("name", ["../data/input/x.png", "/etc/passwd", "sub/../../x.png", ""])
def test_validate_rejects_escaping_name(paths, name):
    assert LoadImage.validate_inputs(image=name) is not True


def test_fingerprint_is_file_sha256(ctx, paths):
    write_rgb(paths.input / "a.png", np.zeros((2, 2, 3)))
    digest = hashlib.sha256((paths.input / "a.png").read_bytes()).hexdigest()

    assert LoadImage.fingerprint(ctx, image="a.png") == digest


def test_fingerprint_changes_with_file(ctx, paths):
    write_rgb(paths.input / "a.png", np.zeros((2, 2, 3)))
    before = LoadImage.fingerprint(ctx, image="a.png")
    write_rgb(paths.input / "a.png", np.ones((2, 2, 3)))

    assert LoadImage.fingerprint(ctx, image="a.png") != before


# -- SaveImage ------------------------------------------------------------------


def test_save_pixels_match_truncated_conversion(ctx, paths):
    values = torch.tensor([0.0, 0.5, 0.999, 1.2, -0.1, 0.1, 128 / 255, 1.0])
    images = values.view(1, 1, 8, 1).expand(1, 1, 8, 3).contiguous()

    save(ctx, images)

    with Image.open(paths.output / "ComfyUI_00001_.png") as picture:
        saved = np.asarray(picture)
    expected = np.clip(255.0 * images[0].numpy(), 0, 255).astype(np.uint8)
    assert np.array_equal(saved, expected)
    assert saved[0, :, 0].tolist() == [0, 127, 254, 255, 0, 25, 128, 255]


def test_save_returns_ui_images(ctx):
    result = save(ctx, torch.zeros(2, 2, 2, 3))

    assert isinstance(result, NodeOutput)
    assert result.values == ()
    assert result.ui == {
        "images": [
            {"filename": "ComfyUI_00001_.png", "subfolder": "", "type": "output"},
            {"filename": "ComfyUI_00002_.png", "subfolder": "", "type": "output"},
        ]
    }


def test_save_counter_continues_past_existing(ctx, paths):
    for name in ("ComfyUI_00007_.png", "ComfyUI_00003_.png", "Other_00050_.png", "ComfyUI_x_.png"):
        (paths.output / name).write_bytes(b"")

    result = save(ctx, torch.zeros(1, 2, 2, 3))

    assert result.ui["images"][0]["filename"] == "ComfyUI_00008_.png"


def test_save_counter_continues_between_saves(ctx, paths):
    first = save(ctx, torch.zeros(1, 2, 2, 3))
    second = save(ctx, torch.zeros(1, 2, 2, 3))

    assert first.ui["images"][0]["filename"] == "ComfyUI_00001_.png"
    assert second.ui["images"][0]["filename"] == "ComfyUI_00002_.png"


def test_save_skips_file_created_after_scan(ctx, paths):
    save(ctx, torch.zeros(1, 2, 2, 3))
    (paths.output / "ComfyUI_00002_.png").write_bytes(b"kept")

    result = save(ctx, torch.zeros(1, 2, 2, 3))

    assert result.ui["images"][0]["filename"] == "ComfyUI_00003_.png"
    assert (paths.output / "ComfyUI_00002_.png").read_bytes() == b"kept"


def test_save_counter_is_thread_safe(ctx, paths):
    barrier = threading.Barrier(8)

    def save_after_barrier(_):
        barrier.wait()
        return save(ctx, torch.zeros(1, 2, 2, 3)).ui["images"][0]["filename"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        names = list(pool.map(save_after_barrier, range(8)))

    assert sorted(names) == [f"ComfyUI_{n:05}_.png" for n in range(1, 9)]


def test_save_into_subfolder(ctx, paths):
    result = save(ctx, torch.zeros(1, 2, 2, 3), prefix="shots/day1/frame")

    entry = result.ui["images"][0]
    assert entry == {"filename": "frame_00001_.png", "subfolder": "shots/day1", "type": "output"}
    assert (paths.output / "shots" / "day1" / "frame_00001_.png").is_file()


def test_save_expands_size_variables(ctx, paths):
    result = save(ctx, torch.zeros(1, 3, 5, 3), prefix="img_%width%x%height%")

    assert result.ui["images"][0]["filename"] == "img_5x3_00001_.png"


@pytest.mark.parametrize("prefix", ["../escape", "a/../../escape", "/tmp/escape", "..", "a/.."])
def test_save_rejects_escaping_prefix(ctx, paths, prefix):
    with pytest.raises(ValidationError, match="filename_prefix"):
        save(ctx, torch.zeros(1, 2, 2, 3), prefix=prefix)

    assert not list(paths.root.parent.glob("escape*"))


def test_validate_rejects_escaping_prefix():
    message = SaveImage.validate_inputs(filename_prefix="../escape")

    assert isinstance(message, str)
    assert "outside the output folder" in message


def test_validate_accepts_subfolder_prefix():
    assert SaveImage.validate_inputs(filename_prefix="a/b/c") is True


def test_save_writes_prompt_metadata(paths):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 2}}}
    ctx = make_context(paths, prompt=prompt)

    save(ctx, torch.zeros(1, 2, 2, 3))

    text = png_text(paths.output / "ComfyUI_00001_.png")
    assert json.loads(text["prompt"]) == prompt


def test_save_writes_extra_pnginfo(paths):
    extra = {"extra_pnginfo": {"workflow": {"nodes": [1, 2]}, "note": "hi"}}
    ctx = make_context(paths, extra_data=extra)

    save(ctx, torch.zeros(1, 2, 2, 3))

    text = png_text(paths.output / "ComfyUI_00001_.png")
    assert json.loads(text["workflow"]) == {"nodes": [1, 2]}
    assert json.loads(text["note"]) == "hi"


def test_save_omits_credentials(paths):
    extra = {
        "api_key_comfy_org": "sk-secret-key",
        "auth_token_comfy_org": "secret-token",
        "client_id": "client-1",
        "extra_pnginfo": {"workflow": {}},
    }
    ctx = make_context(paths, extra_data=extra)

    save(ctx, torch.zeros(1, 2, 2, 3))

    path = paths.output / "ComfyUI_00001_.png"
    assert set(png_text(path)) == {"prompt", "workflow"}
    data = path.read_bytes()
    assert b"secret" not in data
    assert b"client-1" not in data


def test_save_alpha_channel(ctx, paths):
    images = torch.ones(1, 2, 2, 4)
    images[..., 3] = 0.5

    save(ctx, images)

    with Image.open(paths.output / "ComfyUI_00001_.png") as picture:
        assert picture.mode == "RGBA"
        assert picture.getpixel((0, 0)) == (255, 255, 255, 127)


def test_save_stops_when_interrupted(paths):
    interrupt = InterruptFlag()
    interrupt.set()
    ctx = make_context(paths, interrupt=interrupt)

    with pytest.raises(CancelledByUserError):
        save(ctx, torch.zeros(1, 2, 2, 3))


def zlib_level_flag(path):
    """Return the FLEVEL bits of the first IDAT chunk's zlib header."""
    data = path.read_bytes()
    start = data.index(b"IDAT") + 4
    return data[start + 1] >> 6


def test_save_compress_level_4(ctx, paths):
    save(ctx, torch.rand(1, 8, 8, 3))

    # zlib records levels 2 to 5 as FLEVEL 1.
    assert zlib_level_flag(paths.output / "ComfyUI_00001_.png") == 1


# -- PreviewImage ---------------------------------------------------------------


def test_preview_writes_temp_file(ctx, paths):
    result = PreviewImage().execute(ctx, images=torch.zeros(1, 2, 2, 3))

    entry = result.ui["images"][0]
    assert re.fullmatch(r"ComfyUI_temp_[a-z]{5}_00001_\.png", entry["filename"])
    assert entry["subfolder"] == ""
    assert entry["type"] == "temp"
    assert (paths.temp / entry["filename"]).is_file()
    assert not list(paths.output.iterdir())


def test_preview_compress_level_1(ctx, paths):
    result = PreviewImage().execute(ctx, images=torch.rand(1, 8, 8, 3))

    # zlib records levels 0 and 1 as FLEVEL 0.
    assert zlib_level_flag(paths.temp / result.ui["images"][0]["filename"]) == 0


def test_preview_and_save_cacheable_outputs():
    # As in ComfyUI, an identical resubmission reuses the recorded UI.
    assert SaveImage.cacheable is True
    assert PreviewImage.cacheable is True
    assert SaveImage.output_node is True
    assert PreviewImage.output_node is True


# -- example workflows ----------------------------------------------------------


def is_link(value):
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def run_workflow(prompt, ctx):
    """Run an API-format prompt depth-first and return the UI of each output node."""
    classes = {
        cls.class_type: cls
        for module in (primitives, image, mask, io_nodes)
        for cls in module.NODE_CLASSES
    }
    results: dict[str, tuple] = {}
    ui: dict[str, dict] = {}

    def evaluate(node_id):
        if node_id in results:
            return results[node_id]
        node = prompt[node_id]
        cls = classes[node["class_type"]]
        declared = cls.input_map()
        assert set(node["inputs"]) <= set(declared), node_id
        assert {i.name for i in cls.inputs if not i.optional} <= set(node["inputs"]), node_id
        constants = {k: v for k, v in node["inputs"].items() if not is_link(v)}
        assert cls.validate_inputs(**constants) is True, node_id
        for name, value in constants.items():
            spec = declared[name]
            if spec.type == "COMBO":
                assert value in spec.current_choices(), (node_id, name)
        inputs = {
            name: evaluate(value[0])[value[1]] if is_link(value) else value
            for name, value in node["inputs"].items()
        }
        output = cls().execute(ctx, **inputs)
        if isinstance(output, NodeOutput):
            ui[node_id] = output.ui
            output = output.values
        results[node_id] = output
        return output

    for node_id, node in prompt.items():
        if classes[node["class_type"]].output_node:
            evaluate(node_id)
    return ui


def copy_example_images(paths):
    for source in (EXAMPLES / "images").iterdir():
        if source.suffix != ".md":
            shutil.copy(source, paths.input / source.name)


def load_example(name):
    return json.loads((EXAMPLES / name).read_text())


def saved_sizes(paths, ui):
    sizes = []
    for entry in ui["images"]:
        folder = paths.folder_for_type(entry["type"]) / entry["subfolder"]
        with Image.open(folder / entry["filename"]) as picture:
            sizes.append(picture.size)
    return sizes


def test_example_invert_and_blur(ctx, paths):
    copy_example_images(paths)

    ui = run_workflow(load_example("invert-and-blur.json"), ctx)

    assert saved_sizes(paths, ui["5"]) == [(256, 170)]


def test_example_branch_blend(ctx, paths):
    copy_example_images(paths)

    ui = run_workflow(load_example("branch-blend.json"), ctx)

    assert saved_sizes(paths, ui["6"]) == [(256, 171)]
    assert saved_sizes(paths, ui["7"]) == [(256, 171)]
    assert ui["7"]["images"][0]["type"] == "temp"


def test_example_batch_thumbnails(ctx, paths):
    copy_example_images(paths)

    ui = run_workflow(load_example("batch-thumbnails.json"), ctx)

    assert saved_sizes(paths, ui["6"]) == [(256, 256), (256, 256)]


def test_example_images_have_licence_rows():
    sources = (EXAMPLES / "images" / "SOURCES.md").read_text()
    images = [p.name for p in (EXAMPLES / "images").iterdir() if p.suffix != ".md"]

    assert images
    for name in images:
        assert f"| {name} |" in sources
