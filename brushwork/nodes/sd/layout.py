"""Key names of the original Stable Diffusion checkpoint layout and their diffusers names.

Single-file checkpoints (the layout of the CompVis, Stability AI and
generative-models repositories, which ComfyUI loads) name the UNet
``model.diffusion_model.input_blocks.N.M...``, while diffusers names the same
tensor ``down_blocks.B.resnets.L...``. Loading uses diffusers' own converters
(``diffusers.loaders.single_file_utils``). This module contains the other
direction, which diffusers 0.42 lacks: LoRA files name layers in either
layout, and the test fixture writes original-layout files from diffusers
models. This module maps names only, so it does not import torch.
"""

from __future__ import annotations

import re

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."

_UNET_RESNET_NAMES = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_UNET_TOP_LEVEL = {
    "conv_in": "input_blocks.0.0",
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_VAE_ATTENTION_NAMES = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}
_OPEN_CLIP_LAYER_NAMES = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
    "self_attn.out_proj": "attn.out_proj",
}


def _split_module(key: str) -> tuple[str, str]:
    """Split ``a.b.weight`` into (``a.b``, ``weight``)."""
    module, _, param = key.rpartition(".")
    return module, param


def unet_module_to_ldm(
    module: str, layers_per_block: int, up_block_has_attention: list[bool]
) -> str:
    """Return the original-layout name (without prefix) of a diffusers UNet module.

    ``module`` is a diffusers module path such as
    ``down_blocks.1.attentions.0.proj_in``. ``up_block_has_attention`` gives,
    per up block, whether it has attentions, which moves its upsampler from
    slot 1 to slot 2 of the last output block.
    """
    for name, ldm in _UNET_TOP_LEVEL.items():
        if module == name:
            return ldm
    per_block = layers_per_block + 1

    match = re.fullmatch(
        r"down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)(?:\.(.+))?", module
    )
    if match:
        block, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
        if kind == "downsamplers":
            return _join(f"input_blocks.{(block + 1) * per_block}.0.op", _strip_conv(rest))
        index = 1 + block * per_block + layer
        if kind == "resnets":
            return _join(f"input_blocks.{index}.0", _resnet_rest(rest))
        return _join(f"input_blocks.{index}.1", rest)

    match = re.fullmatch(r"mid_block\.(resnets|attentions)\.(\d+)(?:\.(.+))?", module)
    if match:
        kind, layer, rest = match[1], int(match[2]), match[3]
        if kind == "resnets":
            return _join(f"middle_block.{2 * layer}", _resnet_rest(rest))
        return _join("middle_block.1", rest)

    match = re.fullmatch(
        r"up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)(?:\.(.+))?", module
    )
    if match:
        block, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
        if kind == "upsamplers":
            slot = 2 if up_block_has_attention[block] else 1
            return _join(f"output_blocks.{block * per_block + layers_per_block}.{slot}", rest)
        index = block * per_block + layer
        if kind == "resnets":
            return _join(f"output_blocks.{index}.0", _resnet_rest(rest))
        return _join(f"output_blocks.{index}.1", rest)

    raise KeyError(f"no original-layout name for UNet module {module!r}")


def unet_key_to_ldm(key: str, layers_per_block: int, up_block_has_attention: list[bool]) -> str:
    """Return the full original-layout key of a diffusers UNet state-dict key."""
    module, param = _split_module(key)
    return (
        UNET_PREFIX
        + unet_module_to_ldm(module, layers_per_block, up_block_has_attention)
        + "."
        + param
    )


def vae_key_to_ldm(key: str, num_blocks: int) -> str:
    """Return the full original-layout key of a diffusers AutoencoderKL state-dict key."""
    module, param = _split_module(key)
    return VAE_PREFIX + _vae_module_to_ldm(module, num_blocks) + "." + param


def _vae_module_to_ldm(module: str, num_blocks: int) -> str:
    if module in ("quant_conv", "post_quant_conv"):
        return module
    coder, _, rest = module.partition(".")
    if coder not in ("encoder", "decoder"):
        raise KeyError(f"no original-layout name for VAE module {module!r}")
    simple = {"conv_in": "conv_in", "conv_out": "conv_out", "conv_norm_out": "norm_out"}
    if rest in simple:
        return f"{coder}.{simple[rest]}"

    match = re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", rest)
    if match:
        return f"{coder}.mid.block_{int(match[1]) + 1}.{_vae_resnet_rest(match[2])}"
    match = re.fullmatch(r"mid_block\.attentions\.0\.(.+)", rest)
    if match:
        return f"{coder}.mid.attn_1.{_VAE_ATTENTION_NAMES[match[1]]}"

    match = re.fullmatch(
        r"(down|up)_blocks\.(\d+)\.(resnets|downsamplers|upsamplers)\.(\d+)\.(.+)", rest
    )
    if match:
        direction, block, kind, layer, tail = (
            match[1],
            int(match[2]),
            match[3],
            int(match[4]),
            match[5],
        )
        # The original decoder numbers its up blocks from the lowest resolution
        # upwards, the reverse of diffusers' order.
        ldm_block = block if direction == "down" else num_blocks - 1 - block
        if kind == "resnets":
            return f"{coder}.{direction}.{ldm_block}.block.{layer}.{_vae_resnet_rest(tail)}"
        sampler = "downsample" if kind == "downsamplers" else "upsample"
        return f"{coder}.{direction}.{ldm_block}.{sampler}.{tail}"
    raise KeyError(f"no original-layout name for VAE module {module!r}")


def clip_key_to_ldm(key: str, prefix: str) -> str:
    """Return the original-layout key of a transformers CLIP text-model key.

    ``key`` may carry transformers' ``text_model.`` prefix or not (the
    CLIPTextModel of transformers 5 dropped that wrapper).
    """
    return prefix + key.removeprefix("text_model.")


def open_clip_key_to_ldm(key: str, prefix: str) -> str | None:
    """Return the OpenCLIP name of a transformers CLIP text-model key.

    Returns None for the q, k and v projections, which OpenCLIP stores fused
    in ``attn.in_proj_weight`` (see ``open_clip_in_proj_key``).
    """
    key = key.removeprefix("text_model.")
    fixed = {
        "embeddings.token_embedding.weight": "token_embedding.weight",
        "embeddings.position_embedding.weight": "positional_embedding",
        "final_layer_norm.weight": "ln_final.weight",
        "final_layer_norm.bias": "ln_final.bias",
        "text_projection.weight": "text_projection",
    }
    if key in fixed:
        return prefix + fixed[key]
    match = re.fullmatch(r"encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", key)
    if not match:
        raise KeyError(f"no OpenCLIP name for text-model key {key!r}")
    layer, module, param = match[1], match[2], match[3]
    if module in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
        return None
    return f"{prefix}transformer.resblocks.{layer}.{_OPEN_CLIP_LAYER_NAMES[module]}.{param}"


def open_clip_in_proj_key(layer: int, param: str, prefix: str) -> str:
    """Return the OpenCLIP key of the fused q, k, v projection of one layer."""
    return f"{prefix}transformer.resblocks.{layer}.attn.in_proj_{param}"


def _join(base: str, rest: str | None) -> str:
    return base if not rest else f"{base}.{rest}"


def _resnet_rest(rest: str | None) -> str | None:
    if rest is None:
        return None
    head, _, tail = rest.partition(".")
    return _join(_UNET_RESNET_NAMES.get(head, head), tail or None)


def _vae_resnet_rest(rest: str) -> str:
    return rest.replace("conv_shortcut", "nin_shortcut")


def _strip_conv(rest: str | None) -> str | None:
    # diffusers names the downsampler ``downsamplers.0.conv``, and the
    # original layout names the same convolution ``op``.
    if rest is None or rest == "conv":
        return None
    return rest.removeprefix("conv.")
