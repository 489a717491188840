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


@pytest.mark.parametrize(("bits", "tolerance"), [(4, 0.2), (8, 0.01)])
def test_round_trip_error_is_a_small_fraction_of_the_change(bits: int, tolerance: float) -> None:
    base, tuned = _pair()
    tensors, meta = quantise_delta(tuned, base, bits=bits, group=64)
    assert meta == {"format": DELTA_FORMAT, "bits": str(bits), "group": "64"}
    assert set(tensors) == {"layer.weight" + CODES, "layer.weight" + SCALES, "layer.bias"}  # frozen: not stored
    packed = tensors["layer.weight" + CODES]
    assert packed.shape == ((8, 64) if bits == 4 else (8, 128))
    restored = apply_delta(base, tensors, meta, "test")
    change = tuned["layer.weight"] - base["layer.weight"]
    error = restored["layer.weight"] - tuned["layer.weight"]
    assert 0 < error.norm() / change.norm() < tolerance
    assert torch.equal(restored["layer.bias"], tuned["layer.bias"])
    assert torch.equal(restored["frozen.weight"], base["frozen.weight"])


def test_exact_codes_for_a_known_difference() -> None:
    base = {"w": torch.zeros(1, 4)}
    tuned = {"w": torch.tensor([[0.7, -0.7, 0.1, 0.0]])}
    tensors, meta = quantise_delta(tuned, base, bits=4, group=4)
    assert tensors["w" + SCALES].float().item() == pytest.approx(0.1, rel=1e-3)  # 0.7 / 7
    restored = apply_delta(base, tensors, meta, "test")["w"]
    assert torch.allclose(restored, tuned["w"], atol=1e-3)


def test_errors_name_what_is_wrong() -> None:
    base, tuned = _pair()
    with pytest.raises(ConfigError, match="bits"):
        quantise_delta(tuned, base, bits=3)
    with pytest.raises(ConfigError, match="group"):
        quantise_delta(tuned, base, group=3)
    with pytest.raises(ResourceError, match="shape"):
        quantise_delta({"layer.bias": torch.zeros(3)}, base)
    tensors, meta = quantise_delta(tuned, base)
    with pytest.raises(ResourceError, match="not a clinnlp delta"):
        apply_delta(base, tensors, {"format": "other"}, "f.safetensors")
    with pytest.raises(ResourceError, match="not in the base"):
        apply_delta({"layer.bias": base["layer.bias"]}, tensors, meta, "f.safetensors")
