"""Training configuration: a TOML file read into dataclasses, plus ``key=value`` overrides.

Kept free of torch so the CLI can load and check a config before anything heavy
imports. Overrides use dotted keys (``lora.r=8``, ``corpora.0.dev=bc5cdr:/data/dev.pubtator``)
and are parsed by the type of the field they set, so ``output=123`` stays a string and
``epochs=two`` is a :class:`~clinnlp.errors.ConfigError`, as is any unknown key.
``corpora=bc5cdr,ncbi-disease`` keeps only those configured corpora. Relative paths
(``output``, ``corpora_root``) are relative to the current directory, as on a command line.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from clinnlp.errors import ConfigError, InputError
from clinnlp.extensions import MENTION_LABELS
from clinnlp.ner.labels import BUILTIN_HEADS, get_head

PRECISIONS = ("auto", "bf16", "fp16", "no")
MIXINGS = ("proportional", "round_robin")


@dataclass
class CorpusConfig:
    """One training corpus: a name for logs, the head it trains, and reader specs per split.

    ``train``/``dev`` are :func:`clinnlp.readers.registry.load_corpus` specs (``bc5cdr``,
    ``bc5cdr:/path/train.pubtator``...). ``types`` defines a custom head; empty means
    the built-in head of that name. ``labels`` maps a custom head's types to clinnlp's
    (``{Drug = "MEDICATION", Disease = "DIAGNOSIS"}``); it is saved with the model, so
    ``clinnlp extract --model DIR`` turns that head's mentions into records.
    """

    name: str
    head: str
    train: str
    dev: str
    types: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)


@dataclass
class LoraConfig:
    """LoRA on the encoder (attention and feed-forward projections by default)."""

    enabled: bool = True
    r: int = 16
    alpha: int = 32
    dropout: float = 0.1
    target_modules: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"])


@dataclass
class TrainConfig:
    """Everything one training run needs; see ``training/configs/default.toml``."""

    corpora: list[CorpusConfig]
    base: str = "minilm"  # where the encoder weights are read: alias, local folder or hub id
    base_id: str = ""  # base name recorded in the saved model (default: base), e.g. minilm for a local copy
    output: str = "runs/ner"
    corpora_root: str = ""  # default: $CLINNLP_CORPORA, else ../shared/corpora
    max_length: int = 256
    stride: int = 64
    batch_size: int = 16
    eval_batch_size: int = 64
    lr: float = 5e-4  # encoder (LoRA or full) learning rate
    head_lr: float = 1e-3
    epochs: int = 10
    warmup: float = 0.1  # below 1: fraction of all steps; from 1: a number of steps
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    dropout: float = 0.1
    patience: int = 3  # evaluations without a better mean dev strict F1 before stopping; 0 = never stop
    seed: int = 13
    precision: str = "auto"  # auto: bf16 on GPUs that support it, else fp16 on GPU, no on CPU
    eval_every: int = 0  # also evaluate every N steps; 0 = once per epoch
    mixing: str = "proportional"  # or round_robin: alternate heads, oversampling the smaller corpora
    max_train_docs: int = 0  # per corpus, 0 = all (quick runs)
    max_dev_docs: int = 0
    max_steps: int = 0  # stop after N optimiser steps, 0 = no limit (smoke tests)
    freeze_embeddings: bool = False  # full fine-tuning: keep the embedding layer as the base has it
    progress: bool = True
    #: Train into an output folder that already holds files (a finished or stopped run's
    #: best/ and last/ are replaced); without it such a folder is refused.
    overwrite: bool = False
    lora: LoraConfig = field(default_factory=LoraConfig)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Cross-field checks; raise :class:`ConfigError` naming the key at fault."""
        positive = ("max_length", "batch_size", "eval_batch_size", "epochs")
        for key in positive:
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be at least 1, not {getattr(self, key)}")
        for key in ("patience", "eval_every", "max_train_docs", "max_dev_docs", "max_steps", "stride"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must not be negative, not {getattr(self, key)}")
        for key in ("lr", "head_lr"):
            if not getattr(self, key) > 0 or not math.isfinite(getattr(self, key)):
                raise ConfigError(f"{key} must be a positive number, not {getattr(self, key)}")
        if self.warmup < 0 or self.weight_decay < 0 or self.max_grad_norm < 0:
            raise ConfigError("warmup, weight_decay and max_grad_norm must not be negative")
        if not 0 <= self.dropout < 1 or not 0 <= self.lora.dropout < 1:
            raise ConfigError("dropout and lora.dropout must be in [0, 1)")
        if self.stride >= self.max_length - 2:
            raise ConfigError(f"stride {self.stride} must be below max_length - 2 ({self.max_length - 2})")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.mixing not in MIXINGS:
            raise ConfigError(f"mixing must be one of {', '.join(MIXINGS)}, not {self.mixing!r}")
        if not self.output:
            raise ConfigError("output must name a folder")
        if self.lora.enabled and (self.lora.r < 1 or self.lora.alpha < 1 or not self.lora.target_modules):
            raise ConfigError("lora needs r >= 1, alpha >= 1 and at least one target module")
        if not self.corpora:
            raise ConfigError("the config lists no corpora")
        names = [c.name for c in self.corpora]
        if len(set(names)) != len(names):
            raise ConfigError(f"corpus names must be unique: {names}")
        heads: dict[str, tuple[str, ...]] = {}
        for c in self.corpora:
            builtin = BUILTIN_HEADS.get(c.head)
            if builtin is not None and ((c.types and tuple(c.types) != builtin.types) or c.labels):
                raise ConfigError(
                    f"corpora {c.name!r}: {c.head!r} is a built-in head (types {', '.join(builtin.types)}, labels fixed by "
                    f"clinnlp); give a head of your own types and labels a name of its own (head = \"{c.name}\")"
                )
            types = get_head(c.head, c.types or None).types
            if heads.setdefault(c.head, types) != types:
                raise ConfigError(f"head {c.head!r} is given two different type lists")
            unknown = sorted(set(c.labels) - set(types))
            if unknown:
                raise ConfigError(f"corpora {c.name!r}: labels names {unknown[0]!r}, not one of its types ({', '.join(types)})")
            bad = sorted({v for v in c.labels.values() if v not in MENTION_LABELS})
            if bad:
                raise ConfigError(f"corpora {c.name!r}: label {bad[0]!r} is not a clinnlp type; allowed: {', '.join(MENTION_LABELS)}")

    @property
    def recorded_base(self) -> str:
        return self.base_id or self.base

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a TOML training config and apply ``key=value`` overrides."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    for item in overrides:
        apply_override(data, item)
    return build(TrainConfig, data, "")


def apply_override(data: dict[str, Any], item: str) -> None:
    """Set one ``dotted.key=value`` in raw config data, parsing the value by the field's type."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"override {item!r} is not key=value")
    parts = key.split(".")
    if parts == ["corpora"]:
        wanted = [n.strip() for n in raw.split(",") if n.strip()]
        known = {c.get("name"): c for c in data.get("corpora", [])}
        missing = [n for n in wanted if n not in known]
        if missing or not wanted:
            raise ConfigError(f"corpora={raw}: configured corpora are {', '.join(map(str, known))}")
        data["corpora"] = [known[n] for n in wanted]
        return
    cls: Any = TrainConfig
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"override {key}: {part!r} is not an index below {len(node)}")
            index = int(part)
            if last:
                raise ConfigError(f"override {key}: set a field of the list item, e.g. {key}.name")
            node = node[index]
            continue
        hints = typing.get_type_hints(cls)
        if part not in hints:
            raise ConfigError(f"unknown config key {key!r}{_suggest(part, hints)}")
        hint = hints[part]
        if last:
            node[part] = parse_value(raw.strip(), hint, key)
            return
        origin = typing.get_origin(hint)
        if origin is list and dataclasses.is_dataclass(typing.get_args(hint)[0]):
            cls = typing.get_args(hint)[0]
            node = node.setdefault(part, [])
        elif dataclasses.is_dataclass(hint):
            cls = hint
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key}: {part} is not a table in the config")
        else:
            raise ConfigError(f"override {key}: {part} has no sub-keys")


def parse_value(raw: str, hint: Any, key: str) -> Any:
    """A command-line string as the type ``hint`` (str, int, float, bool or list[str])."""
    if hint is str:
        if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
            return raw[1:-1]
        return raw
    if hint is bool:
        lowered = raw.lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{key} must be true or false, not {raw!r}")
    if hint in (int, float):
        try:
            return hint(raw)
        except ValueError:
            raise ConfigError(f"{key} must be {'an integer' if hint is int else 'a number'}, not {raw!r}") from None
    if typing.get_origin(hint) is list:
        if raw.startswith("["):
            try:
                value = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                raise ConfigError(f"{key}: {raw!r} is not a TOML list") from None
        else:
            value = [v.strip() for v in raw.split(",") if v.strip()]
        return value
    raise ConfigError(f"{key} cannot be set from the command line")


def build(cls: Any, data: Any, where: str) -> Any:
    """A dataclass from raw TOML data, checking keys and types (ints are accepted for floats)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'} must be a table")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ConfigError(f"unknown config key {where}{unknown[0]}{_suggest(unknown[0], hints)}")
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    missing = [name for name in required if name not in data]
    if missing:
        raise ConfigError(f"{where.rstrip('.') or 'config'}: missing required key {where}{missing[0]}")
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _check(value, hints[name], f"{where}{name}")
    return cls(**kwargs)


def _suggest(key: str, hints: Mapping[str, Any]) -> str:
    """'; did you mean epochs?' for a near miss, else the allowed keys."""
    close = difflib.get_close_matches(key, list(hints), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; allowed: {', '.join(sorted(hints))}"


def _check(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, f"{key}.")
    if origin is dict:
        key_hint, value_hint = typing.get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a table ({{KEY = VALUE}})")
        return {_check(k, key_hint, f"{key}.{k}"): _check(v, value_hint, f"{key}.{k}") for k, v in value.items()}
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list")
        return [_check(v, item, f"{key}.{i}") for i, v in enumerate(value)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{key} must be a number, not {value!r}")
    if not isinstance(value, hint):
        raise ConfigError(f"{key} must be {hint.__name__}, not {type(value).__name__} {value!r}")
    return value
