"""4-bit (NF4, double quantisation) and 8-bit weights for the LLM, through bitsandbytes.

Only the language model's linear layers are quantised; ``lm_head``, CLIP, SAM, the projector
and the ``<TRK>`` head stay in the compute dtype. bitsandbytes has a CPU backend, so both modes
also run (slowly) without a GPU.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from videolisa.errors import ConfigError

Quantization = Literal["4bit", "8bit"]


def quantize_llm(
    llm_body: nn.Module, mode: Quantization, compute_dtype: torch.dtype, device: torch.device
) -> int:
    """Replace every ``nn.Linear`` under ``llm_body`` (the decoder layers) in place with its
    bitsandbytes counterpart on ``device``. Returns how many layers were replaced."""
    bnb = require_bitsandbytes(mode)
    targets = [
        (parent, name, child)
        for parent in llm_body.modules()
        for name, child in parent.named_children()
        if isinstance(child, nn.Linear)
    ]
    for parent, name, linear in targets:
        setattr(parent, name, _quantized(bnb, linear, mode, compute_dtype).to(device))
    return len(targets)


def require_bitsandbytes(mode: Quantization):
    """The bitsandbytes module; a :class:`ConfigError` naming ``--load-{mode}`` without it."""
    try:
        import bitsandbytes
    except ImportError as error:
        raise ConfigError(
            f"--load-{mode} needs bitsandbytes, which is not installed ({error}).",
            "pip install bitsandbytes",
        ) from None
    return bitsandbytes


def _quantized(bnb, linear: nn.Linear, mode: Quantization, compute_dtype: torch.dtype) -> nn.Module:
    has_bias = linear.bias is not None
    weight = linear.weight.data.to(compute_dtype)
    if mode == "4bit":
        layer = bnb.nn.Linear4bit(
            linear.in_features,
            linear.out_features,
            bias=has_bias,
            compute_dtype=compute_dtype,
            compress_statistics=True,
            quant_type="nf4",
        )
        layer.weight = bnb.nn.Params4bit(
            weight, requires_grad=False, compress_statistics=True, quant_type="nf4"
        )
    elif mode == "8bit":
        layer = bnb.nn.Linear8bitLt(
            linear.in_features, linear.out_features, bias=has_bias, has_fp16_weights=False
        )
        layer.weight = bnb.nn.Int8Params(weight, requires_grad=False, has_fp16_weights=False)
    else:
        raise ConfigError(f"Unknown quantisation '{mode}'.", "Use 4bit or 8bit.")
    if has_bias:
        layer.bias = nn.Parameter(linear.bias.data.to(compute_dtype), requires_grad=False)
    return layer
