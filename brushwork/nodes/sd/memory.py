"""Loaded torch modules per device, unloaded least-recently-used when memory runs short.

Each model component (a UNet, a text encoder, a VAE) lives in a ModuleSlot
that loads it from disk when needed. A slot loads on first use and stays
resident until the ModelManager needs its memory for another slot on the
same device, or until ``free_models()`` (POST /free) unloads everything.
Unloading drops the module; the next use reads it from disk again.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
import torch

log = structlog.get_logger("brushwork.nodes.sd")

GIB = 1024**3
# NOTE: the headroom kept free for activations is an estimate that was not
# measured on a GPU. Large images or batches can need more.
_CUDA_HEADROOM_MIN = 2 * GIB
_CUDA_HEADROOM_FRACTION = 0.15
_CPU_HEADROOM = 1 * GIB


class ModuleSlot:
    """One loadable module: its loader, target device and dtype, and the loaded module if any."""

    def __init__(
        self,
        name: str,
        load: Callable[[], torch.nn.Module],
        device: torch.device,
        dtype: torch.dtype,
        size_bytes: int,
    ) -> None:
        self.name = name
        self.device = device
        self.dtype = dtype
        self.size_bytes = size_bytes
        self.lock = threading.RLock()
        self._load = load
        self._module: torch.nn.Module | None = None
        self._users = 0
        # LoRA state of the loaded module (see lora.py): the applied patch
        # set and CPU copies of the weights it changed.
        self.applied_patches: tuple[Any, ...] = ()
        self.weight_backups: dict[str, torch.Tensor] = {}

    @property
    def loaded(self) -> bool:
        return self._module is not None

    @property
    def in_use(self) -> bool:
        return self._users > 0

    @contextmanager
    def use(self) -> Iterator[torch.nn.Module]:
        """Yield the module on its device, where it stays loaded until the block exits."""
        with self.lock:
            self._users += 1
            try:
                module = self._ensure_loaded()
                MANAGER.touch(self)
                yield module
            finally:
                self._users -= 1

    def _ensure_loaded(self) -> torch.nn.Module:
        if self._module is None:
            MANAGER.make_room(self.device, self.size_bytes, keep=self)
            started = time.perf_counter()
            module = self._load()
            # torch's own Module.to: diffusers' override warns on every dtype
            # argument (diffusers 0.42), although these models keep no
            # float32-only modules.
            torch.nn.Module.to(module, device=self.device, dtype=self.dtype)
            module.eval()
            module.requires_grad_(False)
            self._module = module
            self.applied_patches = ()
            self.weight_backups = {}
            log.info(
                "model loaded",
                model=self.name,
                device=str(self.device),
                dtype=str(self.dtype).removeprefix("torch."),
                seconds=round(time.perf_counter() - started, 3),
            )
        return self._module

    def unload(self, *, wait: bool = True) -> bool:
        """Drop the module, and return whether one was unloaded.

        With ``wait=False`` a slot that another thread is using stays loaded.
        """
        if not self.lock.acquire(blocking=wait):
            return False
        try:
            if self._module is None:
                return False
            self._module = None
            self.applied_patches = ()
            self.weight_backups = {}
        finally:
            self.lock.release()
        MANAGER.forget(self)
        return True


class ModelManager:
    """The resident slots of all devices in least-recently-used order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._resident: OrderedDict[int, ModuleSlot] = OrderedDict()

    def touch(self, slot: ModuleSlot) -> None:
        with self._lock:
            self._resident[id(slot)] = slot
            self._resident.move_to_end(id(slot))

    def forget(self, slot: ModuleSlot) -> None:
        with self._lock:
            self._resident.pop(id(slot), None)

    def resident(self) -> list[ModuleSlot]:
        with self._lock:
            return list(self._resident.values())

    def make_room(self, device: torch.device, needed: int, keep: ModuleSlot) -> None:
        """Unload least-recently-used slots of ``device`` until ``needed`` bytes fit."""
        while True:
            available = free_bytes(device)
            if available is None or available >= needed + headroom_bytes(device):
                return
            victim = self._least_recent(device, keep)
            if victim is None:
                # Nothing left to unload: let the load try and fail with
                # torch's out-of-memory error if it really does not fit.
                return
            victim.unload()
            log.info(
                "model unloaded for memory",
                model=victim.name,
                device=str(device),
                needed_bytes=needed,
                available_bytes=available,
            )
            release_cached_memory(device)

    def _least_recent(self, device: torch.device, keep: ModuleSlot) -> ModuleSlot | None:
        with self._lock:
            for slot in self._resident.values():
                if slot is not keep and slot.device == device and not slot.in_use:
                    return slot
        return None

    def unload_all(self) -> int:
        """Unload every slot that no thread is using, and return how many were unloaded."""
        count = 0
        for slot in self.resident():
            if slot.unload(wait=False):
                count += 1
        return count


MANAGER = ModelManager()


def free_bytes(device: torch.device) -> int | None:
    """Return the memory that a new model can use on ``device``, or None when unknown."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        # Blocks that torch's caching allocator holds but no tensor uses are
        # free for torch too.
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return free + cached
    if device.type == "cpu":
        return _linux_available_memory()
    return None


def headroom_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        _free, total = torch.cuda.mem_get_info(device)
        return max(_CUDA_HEADROOM_MIN, int(total * _CUDA_HEADROOM_FRACTION))
    return _CPU_HEADROOM


def _linux_available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def release_cached_memory(device: torch.device | None = None) -> None:
    gc.collect()
    if torch.cuda.is_available() and (device is None or device.type == "cuda"):
        torch.cuda.empty_cache()


def free_models() -> int:
    """Unload every loaded model on every device, and return how many were unloaded.

    It does not block: a model that a running node is using stays loaded.
    """
    count = MANAGER.unload_all()
    release_cached_memory()
    if count:
        log.info("models freed", modules=count)
    return count
