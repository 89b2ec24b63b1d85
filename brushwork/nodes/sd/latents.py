"""Latent and VAE tensor operations behind the latent nodes (imports torch)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .models import SDVae

LATENT_CHANNELS = 4
# Images per VAE call: bounds the decoder's activation memory for big batches.
_VAE_BATCH = 4


def empty_latent(width: int, height: int, batch_size: int) -> torch.Tensor:
    """Return zeros shaped [batch, 4, height / 8, width / 8], ComfyUI's empty latent."""
    return torch.zeros([batch_size, LATENT_CHANNELS, height // 8, width // 8], dtype=torch.float32)


def _center_crop(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Crop the longer side so that the aspect ratio matches width:height."""
    old_height, old_width = samples.shape[-2:]
    old_aspect = old_width / old_height
    new_aspect = width / height
    if old_aspect > new_aspect:
        keep = round(old_width * new_aspect / old_aspect)
        left = (old_width - keep) // 2
        return samples[..., :, left : left + keep]
    if old_aspect < new_aspect:
        keep = round(old_height * old_aspect / new_aspect)
        top = (old_height - keep) // 2
        return samples[..., top : top + keep, :]
    return samples


def resize_latent(
    samples: torch.Tensor, width: int, height: int, method: str, crop: str
) -> torch.Tensor:
    """Resize latents to width x height latent pixels with a torch interpolation mode."""
    if crop == "center":
        samples = _center_crop(samples, width, height)
    mode = {
        "nearest-exact": "nearest-exact",
        "bilinear": "bilinear",
        "area": "area",
        "bicubic": "bicubic",
    }[method]
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    return F.interpolate(samples.float(), size=(height, width), mode=mode, **kwargs)


def decode(vae: SDVae, samples: torch.Tensor, check_interrupted: object = None) -> torch.Tensor:
    """Decode latents to an IMAGE: [batch, height, width, 3], float32 in [0, 1], on the CPU."""
    checkpoint = vae.checkpoint
    images = []
    with torch.no_grad(), checkpoint.vae.use() as module:
        dtype = next(module.parameters()).dtype
        for start in range(0, samples.shape[0], _VAE_BATCH):
            if callable(check_interrupted):
                check_interrupted()
            latents = samples[start : start + _VAE_BATCH].to(device=checkpoint.device, dtype=dtype)
            pixels = module.decode(latents).sample.float()
            images.append(((pixels + 1) / 2).clamp(0, 1).permute(0, 2, 3, 1).cpu())
    return torch.cat(images)


def encode(vae: SDVae, pixels: torch.Tensor, check_interrupted: object = None) -> torch.Tensor:
    """Encode an IMAGE into latents (the mean of the VAE's latent distribution), float32 on the CPU.

    The image is center-cropped to a multiple of the VAE's downscale factor,
    and an alpha channel is dropped.
    """
    checkpoint = vae.checkpoint
    factor = checkpoint.vae_downscale
    height = pixels.shape[1] // factor * factor
    width = pixels.shape[2] // factor * factor
    if height == 0 or width == 0:
        raise ValueError(
            f"image of {pixels.shape[2]}x{pixels.shape[1]} pixels is smaller than {factor}x{factor}"
        )
    top = (pixels.shape[1] - height) // 2
    left = (pixels.shape[2] - width) // 2
    pixels = pixels[:, top : top + height, left : left + width, :3]

    latents = []
    with torch.no_grad(), checkpoint.vae.use() as module:
        dtype = next(module.parameters()).dtype
        for start in range(0, pixels.shape[0], _VAE_BATCH):
            if callable(check_interrupted):
                check_interrupted()
            batch = pixels[start : start + _VAE_BATCH].permute(0, 3, 1, 2)
            batch = batch.to(device=checkpoint.device, dtype=dtype) * 2 - 1
            latents.append(module.encode(batch).latent_dist.mode().float().cpu())
    return torch.cat(latents)
