"""Numeric precision of an encoder at inference: one place for the NER and the linker.

``int8`` is dynamic int8 quantisation (CPU only: on a CPU with AVX-512 VNNI its matrix
products run about 4x the fp32 rate) of the encoder's Linear layers, with per-channel
weight scales, *except* each feed-forward block's output projection: its input (the
GELU output) has outlier features that one int8 scale per row cannot hold, and
quantising it cost most of int8's F1 loss (BC5CDR dev, 200 abstracts, strict F1: fp32
79.10; every Linear per-tensor 77.84; per-channel 78.37; per-channel without the FFN
outputs 79.01; ``python -m clinnlp.bench.precision_f1``). ``bf16`` on CPU stores the
weights in bf16 (casting once, where autocast would re-cast every weight on every forward
pass: 2x slower at small batches); on GPUs every mode autocasts to bf16/fp16 anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clinnlp.errors import ConfigError

if TYPE_CHECKING:  # torch is imported when a model is converted, not with this module
    import torch

#: The numeric modes an encoder can run in.
PRECISIONS = ("fp32", "bf16", "int8")


def check_precision(precision: str, device_type: str) -> str:
    """``precision`` if it is known and fits the device; else a :class:`ConfigError`."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "int8" and device_type != "cpu":
        raise ConfigError("int8 precision is for CPU; on a GPU use bf16 (the default there)")
    return precision


#: Name endings of feed-forward output projections (BERT/RoBERTa, DistilBERT, GPT-style
#: MLPs), which int8 leaves in float.
FFN_OUTPUTS = ("output.dense", "ffn.lin2", "mlp.fc2")


def int8_layers(model: torch.nn.Module) -> list[str]:
    """Names of the Linear layers int8 quantises: all but the feed-forward outputs."""
    import torch

    names = []
    for name, module in model.named_modules():
        ffn_out = name.endswith(FFN_OUTPUTS) and ".attention." not in name
        if isinstance(module, torch.nn.Linear) and not ffn_out:
            names.append(name)
    return names


def apply_precision(model: Any, precision: str, device_type: str = "cpu") -> Any:
    """``model`` (already on its device, in eval mode) converted to ``precision``."""
    import torch

    if check_precision(precision, device_type) == "int8":
        import warnings

        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        spec = {name: per_channel_dynamic_qconfig for name in int8_layers(model)}
        with warnings.catch_warnings():  # torch's notice that eager quantisation moves to torchao
            warnings.simplefilter("ignore")
            return quantize_dynamic(model, spec, dtype=torch.qint8)
    if precision == "bf16" and device_type == "cpu":
        model.to(torch.bfloat16)
    return model
