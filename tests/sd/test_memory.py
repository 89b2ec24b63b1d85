"""Model cache: LRU unloading when memory runs short, free_models, and reloading."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from brushwork.nodes import sd
from brushwork.nodes.sd import memory
from brushwork.nodes.sd.models import open_checkpoint
from tests.sd.conftest import SdData
from tests.sd.graph import default_graph


def test_free_models_unloads_and_reload_gives_same_bytes(sd_data: SdData, make_context) -> None:
    before = default_graph(make_context(), sd_data.file_name("sd1"))
    assert memory.MANAGER.resident()

    unloaded = sd.free_models()

    assert unloaded > 0
    assert not memory.MANAGER.resident()
    after = default_graph(make_context(), sd_data.file_name("sd1"))
    assert after.numpy().tobytes() == before.numpy().tobytes()


def test_free_models_skips_model_in_use(sd_data: SdData) -> None:
    checkpoint = open_checkpoint(sd_data.tiny["sd1"].checkpoint, "cpu")
    result: list[int] = []
    with checkpoint.unet.use():
        worker = threading.Thread(target=lambda: result.append(sd.free_models()))
        worker.start()
        worker.join(timeout=10)
        assert not worker.is_alive()
        assert checkpoint.unet.loaded


def test_least_recently_used_is_unloaded_first(
    sd_data: SdData, monkeypatch: pytest.MonkeyPatch
) -> None:
    sd.free_models()
    first = open_checkpoint(sd_data.tiny["sd1"].checkpoint, "cpu")
    second = open_checkpoint(sd_data.tiny["sd2"].checkpoint, "cpu")
    # Pretend the device has room for exactly the first checkpoint's UNet and VAE.
    capacity = first.unet.size_bytes + first.vae.size_bytes
    monkeypatch.setattr(memory, "headroom_bytes", lambda device: 0)
    monkeypatch.setattr(
        memory,
        "free_bytes",
        lambda device: capacity - sum(s.size_bytes for s in memory.MANAGER.resident()),
    )

    with first.unet.use():
        pass
    with first.vae.use():
        pass
    with second.unet.use():
        pass

    assert not first.unet.loaded
    assert second.unet.loaded


def test_model_in_use_is_not_unloaded_for_memory(
    sd_data: SdData, monkeypatch: pytest.MonkeyPatch
) -> None:
    sd.free_models()
    first = open_checkpoint(sd_data.tiny["sd1"].checkpoint, "cpu")
    second = open_checkpoint(sd_data.tiny["sd2"].checkpoint, "cpu")
    monkeypatch.setattr(memory, "headroom_bytes", lambda device: 0)
    monkeypatch.setattr(memory, "free_bytes", lambda device: 0)

    with first.unet.use(), second.unet.use():
        assert first.unet.loaded
        assert second.unet.loaded


def test_free_models_without_torch_imports_nothing() -> None:
    code = (
        "import sys\n"
        "import brushwork.nodes.sd as sd\n"
        "assert sd.free_models() == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'diffusers' not in sys.modules, 'diffusers was imported'\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )

    assert completed.returncode == 0, completed.stderr
