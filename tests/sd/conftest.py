"""Fixtures for the Stable Diffusion node tests: tiny seeded models in a data directory."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The Stable Diffusion nodes need the models extra. Without it the whole
# directory is reported as skipped with this reason.
pytest.importorskip("diffusers", reason="install the models extra: pip install -e '.[models]'")

import torch

from brushwork.engine import runtime
from brushwork.engine.artifacts import ArtifactStore
from brushwork.engine.context import InterruptFlag, NodeContext
from brushwork.engine.paths import DataPaths
from brushwork.nodes.sd.testing import (
    THIRD_PARTY_WARNING_FILTERS,
    TinyCheckpoint,
    build_tiny_checkpoint,
    build_tiny_lora,
)

ARCHES = ("sd1", "sd2", "sdxl")
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Ignore the harmless third-party warnings in this directory's tests only."""
    for item in items:
        if item.path.is_relative_to(HERE):
            for warning in THIRD_PARTY_WARNING_FILTERS:
                item.add_marker(pytest.mark.filterwarnings(warning))


@dataclass(frozen=True)
class SdData:
    """The data directory of the tests and the names of what it holds."""

    paths: DataPaths
    tiny: dict[str, TinyCheckpoint]

    def file_name(self, arch: str) -> str:
        return self.tiny[arch].checkpoint.name

    def folder_name(self, arch: str) -> str:
        return self.tiny[arch].diffusers_folder.name


@pytest.fixture(scope="package", autouse=True)
def pinned_threads() -> Iterator[None]:
    """Pin torch's thread count, because CPU results repeat bitwise only at a fixed count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="package")
def sd_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SdData]:
    root = tmp_path_factory.mktemp("sd-data")
    paths = DataPaths(root)
    paths.create()
    build_dir = tmp_path_factory.mktemp("tiny-models")
    tiny: dict[str, TinyCheckpoint] = {}
    for arch in ARCHES:
        built = build_tiny_checkpoint(build_dir / arch, arch, seed=ARCHES.index(arch))
        checkpoint = paths.model_folder("checkpoints") / built.checkpoint.name
        shutil.copy(built.checkpoint, checkpoint)
        folder = paths.model_folder("diffusers") / built.diffusers_folder.name
        shutil.copytree(built.diffusers_folder, folder)
        tiny[arch] = TinyCheckpoint(arch, checkpoint, folder)

    loras = paths.model_folder("loras")
    build_tiny_lora(loras / "tiny-sd1-kohya.safetensors", tiny["sd1"], key_format="kohya")
    build_tiny_lora(loras / "tiny-sd1-peft.safetensors", tiny["sd1"], key_format="peft")
    build_tiny_lora(loras / "tiny-sdxl-kohya.safetensors", tiny["sdxl"], key_format="kohya")

    previous = runtime.data_paths_or_none()
    runtime.set_data_paths(paths)
    yield SdData(paths, tiny)
    runtime.set_data_paths(previous)  # type: ignore[arg-type]


ContextFactory = Callable[..., NodeContext]


@pytest.fixture
def make_context(sd_data: SdData) -> ContextFactory:
    """Return a NodeContext factory.

    ``interrupt_after=N`` sets the interrupt flag once progress reaches N.
    """

    def factory(
        *, interrupt_after: int | None = None, progress: list[tuple[float, float]] | None = None
    ) -> NodeContext:
        interrupt = InterruptFlag()

        def on_progress(node_id: str, value: float, total: float, preview: Any) -> None:
            if progress is not None:
                progress.append((value, total))
            if interrupt_after is not None and value >= interrupt_after:
                interrupt.set()

        return NodeContext(
            prompt_id="prompt-1",
            node_id="3",
            class_type="KSampler",
            attempt=1,
            paths=sd_data.paths,
            artifacts=ArtifactStore(sd_data.paths.artifacts),
            prompt={},
            extra_data={},
            interrupt=interrupt,
            on_progress=on_progress,
            device="cpu",
        )

    return factory
