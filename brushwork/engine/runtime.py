"""Process-wide facts that node specs need at request time (the data directory).

Combo lists such as LoadImage's file list are computed when /object_info is
requested or a prompt is validated, from the data directory set here by the
engine at start.
"""

from __future__ import annotations

from .paths import DataPaths

_paths: DataPaths | None = None


def set_data_paths(paths: DataPaths) -> None:
    global _paths
    _paths = paths


def data_paths() -> DataPaths:
    if _paths is None:
        raise RuntimeError("the data directory is not set; start an Engine first")
    return _paths


def data_paths_or_none() -> DataPaths | None:
    return _paths
