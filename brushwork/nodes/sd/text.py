"""Prompt tokenization and text encoding into ComfyUI's CONDITIONING format.

CONDITIONING is a list of ``[tensor, options]`` pairs, as in ComfyUI: the
tensor is the text encoders' hidden states, shaped [1, tokens, width], and
``options["pooled_output"]`` is SDXL's pooled embedding (None otherwise).
Prompts longer than 75 tokens are encoded in chunks of 77 (start token, 75
prompt tokens, end token and padding) that are concatenated along the token
axis, which is how ComfyUI passes long prompts to the UNet.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import CLIPTokenizer

from .loading import CLIP_CONTEXT
from .models import SDClip

_CHUNK_TOKENS = CLIP_CONTEXT - 2


def tokenize_chunks(tokenizer: CLIPTokenizer, text: str) -> list[list[int]]:
    """Split a prompt's token ids (without start and end tokens) into chunks of 75."""
    ids = tokenizer.encode(text, add_special_tokens=False, verbose=False)
    # NOTE: ComfyUI moves a word that would straddle a chunk boundary into the
    # next chunk, but this split cuts at exactly 75 tokens.
    chunks = [ids[start : start + _CHUNK_TOKENS] for start in range(0, len(ids), _CHUNK_TOKENS)]
    return chunks or [[]]


def chunk_tensor(
    tokenizer: CLIPTokenizer, chunks: list[list[int]], count: int, pad_id: int
) -> torch.Tensor:
    """Wrap each chunk in start and end tokens, pad to 77, and add empty chunks up to ``count``."""
    rows = []
    for index in range(count):
        chunk = chunks[index] if index < len(chunks) else []
        row = [tokenizer.bos_token_id, *chunk, tokenizer.eos_token_id]
        rows.append(row + [pad_id] * (CLIP_CONTEXT - len(row)))
    return torch.tensor(rows, dtype=torch.long)


def encode_text(clip: SDClip, text: str) -> list[list[Any]]:
    """Encode a prompt with every text encoder of the checkpoint into CONDITIONING."""
    checkpoint = clip.checkpoint
    token_chunks = [
        tokenize_chunks(encoder.tokenizer, text) for encoder in checkpoint.text_encoders
    ]
    count = max(len(chunks) for chunks in token_chunks)

    hidden_parts: list[torch.Tensor] = []
    pooled: torch.Tensor | None = None
    for index, encoder in enumerate(checkpoint.text_encoders):
        ids = chunk_tensor(encoder.tokenizer, token_chunks[index], count, encoder.pad_token_id)
        with torch.no_grad(), clip.text_encoder(index) as model:
            output = model(
                input_ids=ids.to(checkpoint.device), output_hidden_states=encoder.layer != "last"
            )
            if encoder.layer == "last":
                hidden = output.last_hidden_state
            else:
                hidden = output.hidden_states[-2]
            if encoder.pooled:
                # The pooled embedding of the first chunk, as ComfyUI uses.
                pooled = output.text_embeds[:1].float().cpu()
        hidden_parts.append(hidden.float().cpu().reshape(1, count * CLIP_CONTEXT, hidden.shape[-1]))

    cond = torch.cat(hidden_parts, dim=-1)
    return [[cond, {"pooled_output": pooled}]]
