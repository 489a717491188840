"""Where NER models come from: the packaged default, a local folder, or a hub id.

Names are resolved here, once, so ``clinnlp extract --model``, ``clinnlp evaluate`` and
``clinnlp models`` agree on what a name means.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from clinnlp.errors import ConfigError, ResourceError

DEFAULT_MODEL = "ner-default"
CONFIG_FILE = "config.json"


def packaged_models_dir() -> Path:
    """The folder of models shipped inside the clinnlp package."""
    return Path(str(resources.files("clinnlp") / "resources" / "models"))


@dataclass(frozen=True)
class ModelInfo:
    """A model folder and what its config says about it."""

    name: str
    path: Path
    base: str
    heads: dict[str, list[str]]
    lora: bool
    #: clinnlp type per type of a custom head, as its training config gave them
    labels: dict[str, dict[str, str]] = field(default_factory=dict)


def _info(name: str, path: Path) -> ModelInfo:
    try:
        config = json.loads((path / CONFIG_FILE).read_text(encoding="utf-8"))
        return ModelInfo(
            name=name,
            path=path,
            base=str(config["base"]),
            heads={k: list(v) for k, v in config["heads"].items()},
            lora=bool(config.get("lora", {}).get("enabled", False)),
            labels={k: dict(v) for k, v in (config.get("labels") or {}).items()},
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ResourceError(f"{path}: not a readable clinnlp NER model ({exc})") from None


def packaged_models() -> list[ModelInfo]:
    """Every model shipped with the package, by folder name."""
    root = packaged_models_dir()
    if not root.is_dir():
        return []
    return [_info(p.name, p) for p in sorted(root.iterdir()) if (p / CONFIG_FILE).is_file()]


def resolve_model(name_or_path: str | None) -> ModelInfo:
    """A packaged model name (``ner-default``), a local model folder, or a hub id.

    Hub ids are fetched with ``huggingface_hub`` only when the name is neither packaged
    nor a local folder; offline, that fails with a clear error instead of hanging.
    """
    name = name_or_path or DEFAULT_MODEL
    packaged = packaged_models_dir() / name
    if (packaged / CONFIG_FILE).is_file():
        return _info(name, packaged)
    local = Path(name).expanduser()
    if local.exists():
        if not (local / CONFIG_FILE).is_file():
            if (local / "best" / CONFIG_FILE).is_file():  # a run folder: its model is best/
                raise ConfigError(f"{name}: a training run folder; its model is {str(local / 'best')!r}")
            raise ConfigError(f"{name}: not a clinnlp model folder (no {CONFIG_FILE}); train one with 'clinnlp train'")
        return _info(name, local)
    if name.count("/") == 1 and not name.startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download

            folder = snapshot_download(name, allow_patterns=["*.json", "*.safetensors"])
        except Exception as exc:  # network, auth or missing repo: all mean "not available"
            raise ResourceError(f"model {name!r} is not packaged, not a local folder, and the hub fetch failed ({exc})") from None
        return _info(name, Path(folder))
    known = ", ".join(m.name for m in packaged_models()) or "none"
    raise ConfigError(f"unknown model {name!r}: not a packaged model ({known}) nor an existing folder")
