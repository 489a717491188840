"""Export one head of a clinnlp NER model as a plain Hugging Face token classifier.

The baseline of the batch benchmark must run *the same model* through
``pipeline("token-classification")``: the LoRA adapter is merged into the encoder, and
the encoder plus one head become an ``AutoModelForTokenClassification`` folder
(safetensors, with the base's tokenizer and ``model_max_length`` set to the clinnlp
window size, so the pipeline's ``stride`` chunking sees the same windows).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def export_token_classifier(model_dir: str | Path, head: str, out_dir: str | Path) -> Path:
    """Write ``out_dir`` (config.json, model.safetensors, tokenizer) and return it."""
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification

    from clinnlp.errors import ConfigError
    from clinnlp.ner.model import MultiHeadTokenClassifier

    model, tokenizer = MultiHeadTokenClassifier.load(model_dir)
    if head not in model.heads:
        raise ConfigError(f"model has no head {head!r}; heads: {', '.join(model.heads)}")
    encoder: Any = model.encoder
    if hasattr(encoder, "merge_and_unload"):
        encoder = encoder.merge_and_unload()
    tags = model.head_objects[head].tags
    config = AutoConfig.for_model(
        **{**encoder.config.to_dict(), "architectures": None},
    )
    config.num_labels = len(tags)
    config.id2label = dict(enumerate(tags))
    config.label2id = {tag: i for i, tag in enumerate(tags)}
    classifier = AutoModelForTokenClassification.from_config(config)
    base = getattr(classifier, classifier.base_model_prefix)
    missing, unexpected = base.load_state_dict(encoder.state_dict(), strict=False)
    if [k for k in (*missing, *unexpected) if "pooler" not in k]:  # the pooler is unused by token tagging
        raise ConfigError(f"encoder weights do not fit {type(classifier).__name__}: {missing[:3]} {unexpected[:3]}")
    with torch.no_grad():
        classifier.classifier.weight.copy_(model.heads[head].weight)
        classifier.classifier.bias.copy_(model.heads[head].bias)
    out = Path(out_dir)
    classifier.eval().save_pretrained(out, safe_serialization=True)
    tokenizer.model_max_length = model.config.max_length
    tokenizer.save_pretrained(out)
    return out
