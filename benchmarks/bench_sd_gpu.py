"""Compare brushwork's KSampler with a direct diffusers pipeline call on an SD 1.5-sized UNet.

Both run the same randomly initialized UNet in the same process, with Euler
steps on the "normal" (linspace) schedule and classifier-free guidance. The
UNet has Stable Diffusion 1.5's shape: 320 base channels, channel
multipliers 1, 2, 4, 4, two resnets per block, 8 heads and a 768-wide text
context.

    python benchmarks/bench_sd_gpu.py                 # 512x512, 20 steps, CUDA
    python benchmarks/bench_sd_gpu.py --device cpu --size 64 --steps 2 --runs 1   # smoke run

The weights are random, so the images are noise; only time and memory mean
anything. The two latents differ slightly because brushwork scales the first
noise by sqrt(1 + sigma_max^2), as ComfyUI does, and diffusers by sigma_max.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel

from brushwork.engine.artifacts import ArtifactStore
from brushwork.engine.context import InterruptFlag, NodeContext
from brushwork.engine.paths import DataPaths
from brushwork.nodes.sd import KSampler
from brushwork.nodes.sd.architectures import architecture_defaults
from brushwork.nodes.sd.loading import shipped_tokenizer
from brushwork.nodes.sd.models import SDModel, in_memory_checkpoint

# Stable Diffusion 1.5's UNet in diffusers terms, from CompVis/stable-diffusion
# configs/stable-diffusion/v1-inference.yaml (model_channels 320, channel_mult
# 1 2 4 4, num_res_blocks 2, num_heads 8, context_dim 768).
SD15_UNET = {
    "sample_size": 64,
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "attention_head_dim": 8,
    "cross_attention_dim": 768,
}
SD15_VAE = {
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 2,
}
SEED = 8566257
CFG = 8.0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="torch device to run on (default: cuda)")
    parser.add_argument("--size", type=int, default=512, help="image width and height in pixels")
    parser.add_argument("--steps", type=int, default=20, help="sampling steps per run")
    parser.add_argument(
        "--runs", type=int, default=3, help="timed runs per implementation, after one warm-up"
    )
    return parser.parse_args()


def build_modules(device: torch.device) -> dict[str, Any]:
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**SD15_UNET).eval()
        if dtype == torch.float16:
            unet.half()
        vae = AutoencoderKL(**SD15_VAE).eval()
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                hidden_size=768,
                intermediate_size=3072,
                num_hidden_layers=12,
                num_attention_heads=12,
            )
        ).eval()
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "dtype": dtype}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    device: torch.device, runs: int, run: Callable[[], Any]
) -> tuple[list[float], float | None]:
    """Return the wall time of each timed run and the peak GPU memory in GiB."""
    run()  # warm-up: kernel selection and allocator growth
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        synchronize(device)
        times.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated(device) / 1024**3 if device.type == "cuda" else None
    return times, peak


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "no CUDA GPU found: this benchmark measures GPU sampling. "
            "For a slow CPU smoke run pass --device cpu --size 64 --steps 2 --runs 1"
        )
    modules = build_modules(device)
    latent_side = args.size // 8
    scheduler_config = dict(architecture_defaults("sd1")["scheduler"])
    tokenizer = shipped_tokenizer()

    generator = torch.Generator("cpu").manual_seed(SEED)
    positive = torch.randn(1, 77, 768, generator=generator)
    negative = torch.randn(1, 77, 768, generator=generator)

    checkpoint = in_memory_checkpoint(
        "sd15-random",
        "sd1",
        device,
        unet=modules["unet"],
        vae=modules["vae"],
        text_encoders=[modules["text_encoder"]],
        tokenizers=[tokenizer],
        scheduler_config=scheduler_config,
        vae_scaling_factor=0.18215,
    )
    model = SDModel(checkpoint)
    data = DataPaths(Path(tempfile.gettempdir()) / "brushwork-bench")
    ctx = NodeContext(
        prompt_id="bench",
        node_id="3",
        class_type="KSampler",
        attempt=1,
        paths=data,
        artifacts=ArtifactStore(data.artifacts),
        prompt={},
        extra_data={},
        interrupt=InterruptFlag(),
        device=str(device),
    )
    latent = {"samples": torch.zeros(1, 4, latent_side, latent_side)}

    def brushwork_run() -> Any:
        return KSampler().execute(
            ctx,
            model=model,
            seed=SEED,
            steps=args.steps,
            cfg=CFG,
            sampler_name="euler",
            scheduler="normal",
            positive=[[positive, {"pooled_output": None}]],
            negative=[[negative, {"pooled_output": None}]],
            latent_image=latent,
            denoise=1.0,
        )

    pipeline = StableDiffusionPipeline(
        vae=modules["vae"],
        text_encoder=modules["text_encoder"],
        tokenizer=tokenizer,
        unet=modules["unet"],
        # steps_offset only affects "leading" spacing. 1 silences diffusers' warning.
        scheduler=EulerDiscreteScheduler(
            **scheduler_config, timestep_spacing="linspace", steps_offset=1
        ),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.set_progress_bar_config(disable=True)
    noise = torch.randn(
        1, 4, latent_side, latent_side, generator=torch.Generator("cpu").manual_seed(SEED)
    )

    def diffusers_run() -> Any:
        with torch.no_grad():
            return pipeline(
                prompt_embeds=positive.to(device, modules["dtype"]),
                negative_prompt_embeds=negative.to(device, modules["dtype"]),
                latents=noise.to(device, modules["dtype"]),
                height=args.size,
                width=args.size,
                num_inference_steps=args.steps,
                guidance_scale=CFG,
                output_type="latent",
            )

    results = {
        "diffusers StableDiffusionPipeline": measure(device, args.runs, diffusers_run),
        "brushwork KSampler": measure(device, args.runs, brushwork_run),
    }
    print_table(args, device, modules["dtype"], results)


def print_table(
    args: argparse.Namespace,
    device: torch.device,
    dtype: torch.dtype,
    results: dict[str, tuple[list[float], float | None]],
) -> None:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    size = f"{args.size}x{args.size}"
    print(f"SD 1.5-sized UNet, random weights, {size}, {args.steps} Euler steps, cfg {CFG}")
    dtype_name = str(dtype).removeprefix("torch.")
    print(f"device: {name}, dtype: {dtype_name}, runs: {args.runs} after 1 warm-up")
    print()
    header = ["implementation", "median s", "min s", "steps/s", "peak GiB"]
    widths = [34, 9, 7, 8, 8]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for label, (times, peak) in results.items():
        median = statistics.median(times)
        cells = [
            label,
            f"{median:.3f}",
            f"{min(times):.3f}",
            f"{args.steps / median:.2f}",
            f"{peak:.2f}" if peak is not None else "n/a",
        ]
        print("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |")


if __name__ == "__main__":
    sys.exit(main())
