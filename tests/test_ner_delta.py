"""The quantised encoder difference (clinnlp.ner.delta) on hand-made tensors."""

from __future__ import annotations

import pytest
import torch

from clinnlp.errors import ConfigError, ResourceError
from clinnlp.ner.delta import CODES, DELTA_FORMAT, SCALES, apply_delta, quantise_delta


def _pair(seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    base = {
        "layer.weight": torch.randn(8, 128, generator=gen),
        "layer.bias": torch.randn(8, generator=gen),
        "frozen.weight": torch.randn(4, 64, generator=gen),
    }
    tuned = {
        "layer.weight": base["layer.weight"] + 0.01 * torch.randn(8, 128, generator=gen),
        "layer.bias": base["layer.bias"] + 0.5,
        "frozen.weight": base["frozen.weight"].clone(),
    }
    return base, tuned


@pytest.mark.parametrize(("bits", "tolerance"), [(3, 0.35), (4, 0.2), (8, 0.01)])
def test_round_trip_error_is_a_small_fraction_of_the_change(bits: int, tolerance: float) -> None:
    base, tuned = _pair()
    tensors, meta = quantise_delta(tuned, base, bits=bits, group=64)
    assert meta == {"format": DELTA_FORMAT, "bits": str(bits), "group": "64"}
    assert set(tensors) == {"layer.weight" + CODES, "layer.weight" + SCALES, "layer.bias"}  # frozen: not stored
    packed = tensors["layer.weight" + CODES]
    assert packed.dtype == torch.uint8 and packed.shape == (8, 128 * bits // 8)
    restored = apply_delta(base, tensors, meta, "test")
    change = tuned["layer.weight"] - base["layer.weight"]
    error = restored["layer.weight"] - tuned["layer.weight"]
    assert 0 < error.norm() / change.norm() < tolerance
    assert torch.equal(restored["layer.bias"], tuned["layer.bias"])
    assert torch.equal(restored["frozen.weight"], base["frozen.weight"])


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8])
def test_codes_that_fit_the_grid_come_back_exactly(bits: int) -> None:
    limit = 2 ** (bits - 1) - 1
    steps = torch.arange(-limit, limit + 1, dtype=torch.float32)
    base = {"w": torch.zeros(2, len(steps) + 1)}
    tuned = {"w": torch.stack([torch.cat([steps, torch.zeros(1)]) * 0.25, torch.cat([steps, torch.zeros(1)]) * -0.5])}
    tensors, meta = quantise_delta(tuned, base, bits=bits, group=len(steps) + 1)
    assert tensors["w" + SCALES].float().flatten().tolist() == pytest.approx([0.25, 0.5])
    restored = apply_delta(base, tensors, meta, "test")["w"]
    assert torch.allclose(restored, tuned["w"], atol=1e-6)


def test_errors_name_what_is_wrong() -> None:
    base, tuned = _pair()
    with pytest.raises(ConfigError, match="bits"):
        quantise_delta(tuned, base, bits=9)
    with pytest.raises(ConfigError, match="group"):
        quantise_delta(tuned, base, group=0)
    with pytest.raises(ResourceError, match="shape"):
        quantise_delta({"layer.bias": torch.zeros(3)}, base)
    tensors, meta = quantise_delta(tuned, base)
    with pytest.raises(ResourceError, match="not a clinnlp delta"):
        apply_delta(base, tensors, {"format": "other"}, "f.safetensors")
    with pytest.raises(ResourceError, match="not in the base"):
        apply_delta({"layer.bias": base["layer.bias"]}, tensors, meta, "f.safetensors")
