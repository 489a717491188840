"""The multi-head token classifier, its save/load format, prediction and the training loop,
on a tiny random BERT and a toy corpus (offline, a few seconds on CPU)."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
from pathlib import Path

import pytest
import torch
from clinnlp.training.config import CorpusConfig, LoraConfig, TrainConfig, load_config

from clinnlp.errors import ConfigError, ResourceError
from clinnlp.ner.labels import Head
from clinnlp.ner.model import (
    ADAPTER_FILE,
    ENCODER_DELTA_FILE,
    ENCODER_FILE,
    LoraSettings,
    MultiHeadTokenClassifier,
    load_tokenizer,
)
from clinnlp.ner.predict import NerPredictor, pad_batch
from clinnlp.ner.windows import SpecialTokens, encode_texts, make_windows, spans_to_token_labels
from clinnlp.readers.types import GoldDocument, GoldSpan

HEAD = Head("toy", ("Drug", "Disease"))
DRUGS = ["aspirin", "warfarin", "heparin", "cisplatin", "lithium"]
DISEASES = ["renal failure", "cystitis", "hypertension", "stroke", "heart failure"]
TEMPLATES = [
    "{drug} caused {disease}.",
    "Patient with {disease} received {drug}.",
    "No {disease} was seen after {drug} today.",
    "The nurse checked the chart twice.",
]
CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"


def toy_docs(n: int, seed: int) -> list[GoldDocument]:
    """Documents of a few templated sentences with Drug and Disease spans."""
    rng = random.Random(seed)
    docs = []
    for d in range(n):
        text, spans = f"Case {d}.", []
        for _ in range(4):
            template = rng.choice(TEMPLATES)
            drug, disease = rng.choice(DRUGS), rng.choice(DISEASES)
            sentence = template.replace("{drug}", drug).replace("{disease}", disease)
            sentence = sentence[0].upper() + sentence[1:]
            base = len(text) + 1
            for value, label in ((drug, "Drug"), (disease, "Disease")):
                if value in sentence.lower():
                    start = base + sentence.lower().index(value)
                    spans.append((start, start + len(value), label))
            text += " " + sentence
        docs.append(
            GoldDocument(f"toy{d}", text, tuple(GoldSpan(s, e, lab, text[s:e]) for s, e, lab in sorted(spans)))
        )
    return docs


def write_pubtator(docs: list[GoldDocument], path: Path) -> None:
    """The toy documents as PubTator (the first sentence is the title)."""
    lines = []
    for doc in docs:
        cut = doc.text.index(". ") + 1
        lines += [f"{doc.doc_id}|t|{doc.text[:cut]}", f"{doc.doc_id}|a|{doc.text[cut + 1:]}"]
        lines += [f"{doc.doc_id}\t{s.start}\t{s.end}\t{s.text}\t{s.label}\t-1" for s in doc.spans]
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory, tiny_tokenizer) -> Path:
    """A tiny random BERT (hidden 32, 2 layers) with a WordPiece tokenizer, saved like a hub model."""
    from transformers import BertConfig, BertModel

    texts = [d.text for d in toy_docs(50, 0)]
    words = sorted({w for t in texts for w in t.lower().replace(".", " ").split()})
    tokenizer = tiny_tokenizer(texts, words)
    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def toy_batches(base_dir: Path, n_docs: int = 24, batch_size: int = 8) -> list[dict[str, torch.Tensor]]:
    tokenizer = load_tokenizer(str(base_dir))
    docs = toy_docs(n_docs, 1)
    special = SpecialTokens.of(tokenizer)
    windows = []
    for i, enc in enumerate(encode_texts(tokenizer, [d.text for d in docs])):
        labels, _ = spans_to_token_labels(enc, docs[i].spans, HEAD)
        windows += make_windows(enc, i, special, 48, 8, labels)
    batches = []
    for at in range(0, len(windows), batch_size):
        chunk = windows[at : at + batch_size]
        ids, mask = pad_batch([w.input_ids for w in chunk], tokenizer.pad_token_id)
        labels = torch.full(ids.shape, -100)
        for row, w in enumerate(chunk):
            labels[row, : len(w.labels)] = torch.tensor(w.labels)
        batches.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return batches


def fit(model: MultiHeadTokenClassifier, batches: list[dict[str, torch.Tensor]], steps: int, lr: float) -> list[float]:
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    losses = []
    for step in range(steps):
        out = model(**batches[step % len(batches)], head="toy")
        out.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(out.loss.item())
    model.eval()
    return losses


def test_loss_falls(base_dir: Path) -> None:
    model = MultiHeadTokenClassifier.from_base(str(base_dir), {"toy": HEAD}, max_length=48, stride=8)
    losses = fit(model, toy_batches(base_dir), steps=40, lr=5e-3)
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5


@pytest.mark.parametrize("lora", [False, True])
def test_save_load_round_trip(base_dir: Path, tmp_path: Path, lora: bool) -> None:
    settings = LoraSettings(enabled=lora, r=4, alpha=8, target_modules=("query", "value"))
    model = MultiHeadTokenClassifier.from_base(str(base_dir), {"toy": HEAD}, max_length=48, stride=8, lora=settings)
    if lora:
        assert all(not p.requires_grad for n, p in model.encoder.named_parameters() if "lora_" not in n)
    batches = toy_batches(base_dir)
    fit(model, batches, steps=8, lr=1e-2)  # move LoRA's B (initialised to zero) off zero
    with torch.inference_mode():
        before = model(batches[0]["input_ids"], batches[0]["attention_mask"], head="toy").logits
    saved = model.save(tmp_path / "model")
    files = {p.name for p in saved.iterdir()}
    assert files == {"config.json", "heads.safetensors", ADAPTER_FILE if lora else ENCODER_FILE}
    if lora:
        base_size = (base_dir / "model.safetensors").stat().st_size
        assert (saved / ADAPTER_FILE).stat().st_size < base_size / 4
    config = json.loads((saved / "config.json").read_text())
    assert config["heads"] == {"toy": ["Drug", "Disease"]} and config["lora"]["enabled"] is lora
    assert config["base_sha256"] and len(config["base_sha256"]) == 64

    loaded, tokenizer = MultiHeadTokenClassifier.load(saved)
    with torch.inference_mode():
        after = loaded(batches[0]["input_ids"], batches[0]["attention_mask"], head="toy").logits
    assert torch.equal(before, after)
    assert tokenizer.is_fast


def test_compact_model_predicts_like_the_full_one(base_dir: Path, tmp_path: Path) -> None:
    from clinnlp.ner.delta import compact_model

    model = MultiHeadTokenClassifier.from_base(str(base_dir), {"toy": HEAD}, max_length=48, stride=8)
    batches = toy_batches(base_dir)
    fit(model, batches, steps=20, lr=5e-3)
    full = model.save(tmp_path / "full")
    compact = compact_model(full, tmp_path / "compact", bits=8, group=16)
    assert {p.name for p in compact.iterdir()} == {"config.json", "heads.safetensors", ENCODER_DELTA_FILE}
    assert (compact / ENCODER_DELTA_FILE).stat().st_size < (full / ENCODER_FILE).stat().st_size / 2
    a, _ = MultiHeadTokenClassifier.load(full)
    b, _ = MultiHeadTokenClassifier.load(compact)
    tokens = batches[0]["attention_mask"].bool()
    with torch.inference_mode():
        want = a(batches[0]["input_ids"], batches[0]["attention_mask"], head="toy").logits
        got = b(batches[0]["input_ids"], batches[0]["attention_mask"], head="toy").logits
    assert torch.equal(want.argmax(-1)[tokens], got.argmax(-1)[tokens])
    assert (got - want).abs().max() < 0.05 * want.abs().max()
    with pytest.raises(ConfigError, match="only fully fine-tuned"):
        compact_model(compact, tmp_path / "again")


def test_load_refuses_other_base_weights(base_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModel

    lora = LoraSettings(enabled=True, r=2, alpha=4, target_modules=("query",))
    model = MultiHeadTokenClassifier.from_base(str(base_dir), {"toy": HEAD}, max_length=48, lora=lora)
    with pytest.raises(ConfigError, match="positions"):
        MultiHeadTokenClassifier.from_base(str(base_dir), {"toy": HEAD}, max_length=512)
    saved = model.save(tmp_path / "model")
    other = tmp_path / "other-base"
    shutil.copytree(base_dir, other)
    encoder = AutoModel.from_pretrained(other, use_safetensors=True)
    with torch.no_grad():
        encoder.embeddings.word_embeddings.weight.add_(1.0)
    encoder.save_pretrained(other)
    with pytest.raises(ResourceError, match="trained on base weights"):
        MultiHeadTokenClassifier.load(saved, base=str(other))
    MultiHeadTokenClassifier.load(saved, base=str(other), check_base=False)
    with pytest.raises(ResourceError):
        MultiHeadTokenClassifier.load(tmp_path / "missing")


def test_predictor_returns_character_spans(base_dir: Path, tmp_path: Path) -> None:
    model = MultiHeadTokenClassifier.from_base(str(base_dir), {"toy": HEAD}, max_length=48, stride=8)
    fit(model, toy_batches(base_dir), steps=60, lr=5e-3)
    model.save(tmp_path / "model")
    predictor = NerPredictor(tmp_path / "model", device="cpu", batch_size=4)
    texts = [d.text for d in toy_docs(3, 7)] + [""]
    results = predictor.predict(texts, "toy")
    assert len(results) == 4 and results[-1] == []
    found = [(text[s:e], label) for text, spans in zip(texts, results) for s, e, label, _ in spans]
    assert found, "a trained toy model should find some mentions"
    for text, spans in zip(texts, results):
        for start, end, label, score in spans:
            assert 0 <= start < end <= len(text) and label in HEAD.types and 0 < score <= 1
            assert text[start:end] == text[start:end].strip()
    with pytest.raises(ConfigError):
        predictor.predict(texts, "nope")


def toy_train_config(base_dir: Path, tmp_path: Path, train_docs: int, dev_docs: int, **settings: object) -> TrainConfig:
    """A full fine-tuning config over toy PubTator splits written to ``tmp_path``."""
    write_pubtator(toy_docs(train_docs, 2), tmp_path / "train.pubtator")
    write_pubtator(toy_docs(dev_docs, 3), tmp_path / "dev.pubtator")
    spec = {"train": f"pubtator:{tmp_path / 'train.pubtator'}", "dev": f"pubtator:{tmp_path / 'dev.pubtator'}"}
    corpora = [CorpusConfig(name="toy", head="toy", types=["Drug", "Disease"], **spec)]
    if settings.pop("two_heads", False):
        corpora.append(CorpusConfig(name="toy-drugs", head="drugs", types=["Drug"], **spec))
    defaults: dict[str, object] = {
        "base": str(base_dir), "output": str(tmp_path / "run"), "max_length": 48, "stride": 8, "batch_size": 8,
        "lr": 5e-3, "progress": False, "lora": LoraConfig(enabled=False),
    }
    return TrainConfig(corpora=corpora, **{**defaults, **settings})  # type: ignore[arg-type]


def test_train_end_to_end(base_dir: Path, tmp_path: Path) -> None:
    from clinnlp.training.trainer import train

    config = toy_train_config(
        base_dir, tmp_path, 40, 8, two_heads=True, head_lr=5e-3, epochs=3, patience=0, mixing="round_robin"
    )
    result = train(config)
    run = tmp_path / "run"
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [rec["epoch"] for rec in lines] == [1, 2, 3] and result.epochs_completed == 3
    assert set(lines[0]["dev"]) == {"toy", "toy-drugs"}
    assert lines[-1]["train_loss"] < lines[0]["train_loss"]
    assert result.best_f1 == max(rec["dev_f1"] for rec in lines) and result.best_f1 > 0.3
    assert (run / "best" / "config.json").is_file() and (run / "last" / ENCODER_FILE).is_file()
    assert (run / "best" / "train_config.json").is_file()  # a copied best/ still says how it was made
    umask = os.umask(0)
    os.umask(umask)
    assert (run / "best" / ENCODER_FILE).stat().st_mode & 0o777 == 0o666 & ~umask  # shareable, as config.json is
    # the F1 that extract and evaluate give (mentions under the score cut-off dropped) is logged beside
    assert all(0 <= s["f1_min_score"] <= 1 for rec in lines for s in rec["dev"].values())
    assert 0 <= result.best_f1_min_score <= 1
    assert result.tokens_per_second > 0 and result.train_tokens > 0
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (run / "learning_curves.png").stat().st_size > 0


def test_freeze_embeddings_keeps_base_embeddings(base_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    from clinnlp.training.trainer import train

    config = toy_train_config(base_dir, tmp_path, 16, 4, epochs=1, freeze_embeddings=True)
    train(config)
    base = load_file(str(base_dir / "model.safetensors"))
    tuned = load_file(str(tmp_path / "run" / "last" / ENCODER_FILE))
    embedding_keys = [k for k in tuned if k.startswith("embeddings.")]
    layer_keys = [k for k in tuned if k.startswith("encoder.layer.") and k.endswith("weight")]
    assert embedding_keys and layer_keys
    for key in embedding_keys:
        assert torch.equal(tuned[key], base[key].float()), key
    assert any(not torch.equal(tuned[k], base[k].float()) for k in layer_keys)


def test_config_overrides_and_errors(tmp_path: Path) -> None:
    config = load_config(
        CONFIGS / "default.toml",
        ["lora.r=4", "epochs=2", "lr=3e-4", "output=123", "corpora=bc5cdr", "corpora.0.dev=bc5cdr:/x/dev.pubtator",
         "lora.target_modules=query,value", "progress=false"],
    )
    assert config.lora.r == 4 and config.epochs == 2 and config.lr == 3e-4 and config.output == "123"
    assert [c.name for c in config.corpora] == ["bc5cdr"] and config.corpora[0].dev == "bc5cdr:/x/dev.pubtator"
    assert config.lora.target_modules == ["query", "value"] and config.progress is False
    assert load_config(CONFIGS / "tiny-test.toml").max_train_docs > 0
    for bad in ["nope=1", "lora.nope=1", "epochs=two", "epochs", "corpora=unknown", "lora.r.x=1",
                "precision=fp8", "stride=1000", "corpora.9.dev=x"]:
        with pytest.raises(ConfigError):
            load_config(CONFIGS / "default.toml", [bad])
    (tmp_path / "bad.toml").write_text('epochs = "ten"\n[[corpora]]\nname="a"\nhead="ncbi"\ntrain="x"\ndev="x"\n')
    with pytest.raises(ConfigError, match="epochs"):
        load_config(tmp_path / "bad.toml")


def test_a_custom_head_with_labels_makes_records_and_is_scored_by_evaluate(base_dir: Path, tmp_path: Path) -> None:
    """A head trained on a user's own types: its labels (saved with the model) turn its
    mentions into clinnlp mentions, and evaluate with a label map scores that head."""
    from clinnlp.components.transformer_ner import TransformerNER
    from clinnlp.evaluation import DataSpec, custom_head, evaluate, read_label_map_file
    from clinnlp.pipeline import load

    labels = {"toy": {"Drug": "MEDICATION", "Disease": "DIAGNOSIS"}}
    saved = MultiHeadTokenClassifier.from_base(str(base_dir), {"toy": HEAD}, max_length=48, stride=8, labels=labels).save(tmp_path / "m")
    ner = load(ner="transformer", model=str(saved)).get_pipe("clinnlp_transformer_ner")
    assert isinstance(ner, TransformerNER) and ner.heads == ["toy"]
    assert ner._label("toy", "Drug") == ("MEDICATION", None) and ner._label("toy", "Disease") == ("DIAGNOSIS", None)

    bare = MultiHeadTokenClassifier.from_base(str(base_dir), {"toy": HEAD}, max_length=48, stride=8).save(tmp_path / "bare")
    with pytest.raises(ConfigError, match="labels = "):
        load(ner="transformer", model=str(bare))

    write_pubtator(toy_docs(4, 5), tmp_path / "dev.pubtator")
    (tmp_path / "map.json").write_text('{"label_map": {"Drug": "MEDICATION", "Disease": "DIAGNOSIS"}}', encoding="utf-8")
    label_map = read_label_map_file(tmp_path / "map.json")
    assert custom_head({"bc5cdr": ["Chemical", "Disease"], "toy": ["Drug", "Disease"]}, label_map) == "toy"
    metrics = evaluate([DataSpec(f"pubtator:{tmp_path / 'dev.pubtator'}", "pubtator", label_map)], model=str(bare), ner="transformer")
    assert set(metrics["strict"]["by_type"]) == {"DIAGNOSIS", "MEDICATION"} and metrics["strict"]["micro"]["fn"] > 0
    spec = DataSpec(f"pubtator:{tmp_path / 'dev.pubtator'}", "pubtator", label_map)
    assert evaluate([spec], model=str(bare), ner="transformer", head="toy")["docs"] == metrics["docs"]
    with pytest.raises(ConfigError, match="the model's heads: toy"):
        evaluate([spec], model=str(bare), ner="transformer", head="nope")
    (tmp_path / "bad.json").write_text('{"label_map": {"Drug": "MEDICINE"}}', encoding="utf-8")
    with pytest.raises(ConfigError, match="'MEDICINE' is not a clinnlp type"):
        read_label_map_file(tmp_path / "bad.json")


def test_training_refuses_unknown_types_a_used_folder_and_bad_labels(base_dir: Path, tmp_path: Path) -> None:
    from clinnlp.training.trainer import train

    config = toy_train_config(base_dir, tmp_path, 4, 2, epochs=1)
    typo = dataclasses.replace(config, corpora=[dataclasses.replace(config.corpora[0], types=["Drugs", "Diseases"])])
    with pytest.raises(ConfigError, match="none of its head's types"):
        train(typo)
    dev_typo = tmp_path / "dev-typo.pubtator"
    dev_typo.write_text((tmp_path / "dev.pubtator").read_text().replace("\tDrug", "\tdrug").replace("\tDisease", "\tdisease"))
    bad_dev = dataclasses.replace(config, corpora=[dataclasses.replace(config.corpora[0], dev=f"pubtator:{dev_typo}")])
    with pytest.raises(ConfigError, match="occurs in its dev data"):
        train(bad_dev)
    with pytest.raises(ConfigError, match="'bc5cdr' is a built-in head"):
        dataclasses.replace(config, corpora=[dataclasses.replace(config.corpora[0], head="bc5cdr")])
    assert not (tmp_path / "run").exists()  # nothing written for a run that could not start
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(ConfigError, match="already holds files"):
        train(config)
    with pytest.raises(ConfigError, match="not a clinnlp type"):
        dataclasses.replace(config, corpora=[dataclasses.replace(config.corpora[0], labels={"Drug": "MEDICINE"})])
    with pytest.raises(ConfigError, match="positive number"):
        dataclasses.replace(config, lr=float("nan"))
