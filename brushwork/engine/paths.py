"""The data directory layout.

    <data-dir>/
      brushwork.db        SQLite event log and projections (unless --database-url)
      brushwork.lock      held by the process that writes an SQLite log here
      artifacts/packs/    node outputs by sha256, in append-only pack files
      input/              LoadImage sources and POST /upload/image targets
      output/             SaveImage results (served by /view?type=output)
      temp/               PreviewImage results (type=temp), cleared on start
      models/<folder>/    checkpoints, loras, vae, ... for the torch nodes
      secrets.toml        optional provider keys (must be mode 0600)
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

MODEL_FOLDERS = ("checkpoints", "loras", "vae", "embeddings", "diffusers", "upscale_models")


@dataclass(frozen=True)
class DataPaths:
    root: Path

    @property
    def database(self) -> Path:
        return self.root / "brushwork.db"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def temp(self) -> Path:
        return self.root / "temp"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.toml"

    def model_folder(self, name: str) -> Path:
        return self.models / name

    def folder_for_type(self, kind: str) -> Path | None:
        """Map a ComfyUI file type ("input", "output", "temp") to its directory."""
        return {"input": self.input, "output": self.output, "temp": self.temp}.get(kind)

    def create(self, *, clear_temp: bool = False) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if clear_temp and self.temp.exists():
            shutil.rmtree(self.temp, ignore_errors=True)
        for folder in (self.artifacts, self.input, self.output, self.temp):
            folder.mkdir(parents=True, exist_ok=True)
        for name in MODEL_FOLDERS:
            self.model_folder(name).mkdir(parents=True, exist_ok=True)
