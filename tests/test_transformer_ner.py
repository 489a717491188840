"""The packaged transformer NER in the pipeline, and the evaluate/train/models commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import clinnlp
from clinnlp.cli.main import app
from clinnlp.errors import ConfigError
from clinnlp.model_registry import DEFAULT_MODEL, resolve_model

NOTE = "Patient with congestive heart failure and pneumonia was given furosemide and ceftriaxone."
METRIC_KEYS = {"precision", "recall", "f1", "tp", "fp", "fn"}


def test_transformer_mentions_and_provenance() -> None:
    record = clinnlp.extract(NOTE, ner="transformer")
    texts = {m.text for m in record.diagnoses} | {m.text for m in record.medications}
    assert {"furosemide", "ceftriaxone"} <= texts
    assert any("heart failure" in t for t in texts)
    for mention in [*record.diagnoses, *record.medications, *record.findings]:
        assert mention.source == "clinnlp_transformer_ner"
        assert 0.5 <= mention.confidence <= 1.0
        assert NOTE[mention.start : mention.end] == mention.text
    assert record.provenance.model_id == DEFAULT_MODEL
    assert record.provenance.weights_sha256 and len(record.provenance.weights_sha256) == 64


def test_frequency_time_and_vital_words_are_never_mentions() -> None:
    from clinnlp.components.transformer_ner import rejected_text

    for text in ("twice", "prn", "PRN", "q4-6h", "q 6 hrs", "night", "SpO2 93", "HR 112", "T 38.6", "T: 37.2", "500 mg", "1-2",
                 "2-0 Vicryl", "chromic", "Dermabond", "Steri-Strips", "4-0 Monocryl sutures", "Supple", "Atraumatic",
                 "intact", "medications", "general endotracheal anesthesia", "local anesthetic", "orchiopexy",
                 "caudal block", "conscious sedation", "MAC anesthesia"):
        assert rejected_text().fullmatch(text), text
    for text in ("metoprolol", "night sweats", "T2DM", "T3", "T4", "vitamin B12", "HIV", "twice-daily dosing regimen", "chromic otitis",
                 "acute pancreatitis", "chronic pain", "soft tissue swelling", "anesthesia awareness", "heart block",
                 "AV block", "post-laminectomy syndrome"):
        assert not rejected_text().fullmatch(text), text
    record = clinnlp.extract("Night-time cough and wheeze twice a week. SpO2 93% on room air. Albuterol prn.")
    assert not {m.text for m in [*record.diagnoses, *record.medications]} & {"night", "Night", "twice", "SpO2 93", "prn"}


def test_mentions_never_end_with_a_function_word() -> None:
    """'nausea and' loses its 'and' (see edge_words in the label rules); a mention that is
    only such a word as an abbreviation ('AT', ataxia-telangiectasia) stays whole."""
    from clinnlp.ner.windows import PredictedSpan

    nlp = clinnlp.load(ner="transformer", linker=False)
    ner = nlp.get_pipe("clinnlp_transformer_ner")
    text = "Nausea and vomiting after loss of hearing in AT patients."
    doc = nlp.make_doc(text)
    at = text.index("AT")
    found = [(0, len("Nausea and")), (text.index("loss"), text.index("hearing") - 1), (at, at + 2)]
    spans = [ner._span(doc, "ncbi", PredictedSpan(s, e, "Disease", 0.9), "DIAGNOSIS", None) for s, e in found]
    assert [s.text for s in spans if s is not None] == ["Nausea", "loss", "AT"]


def test_mention_edges_inside_a_token_split_it_and_keep_abbreviations() -> None:
    """A mention ending inside a spaCy token ("pilocarpine-", "Ca(2+)") splits that
    token instead of being widened to it; scispaCy's abbreviations survive the split."""
    from clinnlp.components.token_split import split_at

    nlp = clinnlp.load(ner="lexicon", linker=False)
    text = "Parkinson's disease (PD) after Ca(2+) channel blockers and pilocarpine- or kainic acid. PD again."
    doc = nlp.make_doc(text)
    for name in ("clinnlp_sections", "clinnlp_sentences", "clinnlp_abbreviations"):
        doc = nlp.get_pipe(name)(doc)
    before = {(a.start_char, a.text, a._.long_form.text) for a in doc._.abbreviations}
    assert {a[1:] for a in before} == {("PD", "Parkinson's disease")} and len(before) == 2
    assert {t.text for t in doc} >= {"Ca(2", "pilocarpine-"}
    ca, pilo = text.index("Ca("), text.index("pilocarpine")
    assert split_at(doc, [ca, ca + 2, pilo, pilo + 11, 0]) == 2  # 0, ca and pilo are token starts
    assert doc.text == text
    assert doc.char_span(ca, ca + 2).text == "Ca" and doc.char_span(pilo, pilo + 11).text == "pilocarpine"
    assert {(a.start_char, a.text, a._.long_form.text) for a in doc._.abbreviations} == before
    assert not doc[doc.char_span(ca, ca + 2).end].is_sent_start
    assert split_at(doc, [ca + 2]) == 0


def test_hybrid_is_the_default_and_adds_lexicon_codes() -> None:
    nlp = clinnlp.load()
    assert "clinnlp_transformer_ner" in nlp.pipe_names and "clinnlp_lexicon_ner" in nlp.pipe_names
    record = clinnlp.extract(NOTE)
    drugs = {m.text: m for m in record.medications}
    assert any(c.system == "DrugBank" for c in drugs["furosemide"].codes)


def test_domains_pick_the_taggers(runner: CliRunner, tmp_path: Path) -> None:
    """Clinical notes (the default) take the MACCROBAT head's diseases, symptoms and drugs;
    literature adds BC5CDR's chemicals and diseases; an unknown domain is a one-line error."""
    clinical = clinnlp.load(ner="transformer").get_pipe("clinnlp_transformer_ner")
    literature = clinnlp.load(ner="transformer", domain="literature").get_pipe("clinnlp_transformer_ner")
    assert clinical.domain == "clinical" and clinical.heads == ["maccrobat"]
    assert literature.heads == ["maccrobat", "bc5cdr"]
    assert clinical._label("maccrobat", "Disease_disorder") == ("DIAGNOSIS", None)
    assert clinical._label("bc5cdr", "Chemical") is None
    assert literature._label("bc5cdr", "Chemical") == ("MEDICATION", None)
    assert literature._label("maccrobat", "Disease_disorder") is None  # BC5CDR's Disease covers it there
    record = clinnlp.extract("Cisplatin-induced nephrotoxicity was seen.", ner="transformer", domain="literature")
    assert "Cisplatin" in {m.text for m in record.medications}
    note = tmp_path / "note.txt"
    note.write_text("Metoprolol 25 mg daily.", encoding="utf-8")
    bad = runner.invoke(app, ["extract", str(note), "--domain", "radiology"])
    assert bad.exit_code != 0 and "clinical, literature" in bad.stderr and "Traceback" not in bad.stderr
    ok = runner.invoke(app, ["extract", str(note), "--domain", "literature", "--format", "jsonl"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["medications"][0]["text"] == "Metoprolol"
    from clinnlp.readers.registry import corpus_domain

    assert [corpus_domain(n) for n in ("bc5cdr", "ncbi-disease", "pubtator", "maccrobat", "brat")] == [
        "literature", "literature", "literature", "clinical", None
    ]
    from clinnlp.batch.engine import EngineSettings, check_settings

    with pytest.raises(ConfigError, match="unknown domain 'notes'; allowed: clinical, literature"):
        check_settings(EngineSettings(domain="notes"))


def test_unknown_model_and_head() -> None:
    with pytest.raises(ConfigError, match="unknown model"):
        resolve_model("no-such-model")
    with pytest.raises(ConfigError, match="no head"):
        clinnlp.load(ner="transformer", heads=("nope",))


def test_models_command(runner: CliRunner) -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0 and DEFAULT_MODEL in result.stdout


def test_evaluate_writes_the_metrics_shape(runner: CliRunner, tmp_path: Path, tiny_pubtator: Path) -> None:
    data = tiny_pubtator
    out = tmp_path / "eval" / "metrics.json"
    result = runner.invoke(app, ["evaluate", "--data", f"bc5cdr:{data}", "--output", str(out)])
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(out.read_text(encoding="utf-8"))
    assert set(metrics) == {"docs", "strict", "lenient", "normalization"} and metrics["docs"] == 1
    normalization = metrics["normalization"]
    assert set(normalization["mention_accuracy"]) == {"Chemical", "Disease"}
    for scores in normalization["document_concepts"].values():
        assert {"precision", "recall", "f1"} <= set(scores)
    for view in ("strict", "lenient"):
        assert set(metrics[view]) == {"micro", "by_type"}
        assert set(metrics[view]["micro"]) == METRIC_KEYS
        assert set(metrics[view]["by_type"]) <= {"Chemical", "Disease"}
    assert metrics["strict"]["micro"]["tp"] + metrics["strict"]["micro"]["fn"] == 6
    assert out.with_suffix(".md").is_file() and out.with_suffix(".png").is_file()


def test_evaluate_generic_format_with_label_map(
    runner: CliRunner, tmp_path: Path, write_file: Callable[[str, str | bytes], Path], tiny_pubtator: Path
) -> None:
    data = tiny_pubtator
    label_map = write_file("map.json", json.dumps({"label_map": {"Chemical": "MEDICATION", "Disease": "DIAGNOSIS"}}))
    out = tmp_path / "m.json"
    args = ["evaluate", "--data", f"pubtator:{data}", "--label-map", str(label_map), "--ner", "lexicon", "--output", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(out.read_text(encoding="utf-8"))
    assert set(metrics["strict"]["by_type"]) <= {"MEDICATION", "DIAGNOSIS"}
    assert metrics["strict"]["micro"]["tp"] >= 4  # the lexicon knows cisplatin, aspirin, hypertension, renal failure
    missing = runner.invoke(app, ["evaluate", "--data", f"pubtator:{data}", "--output", str(out)])
    assert missing.exit_code != 0 and "--label-map" in missing.stderr


def test_train_command_runs_a_few_steps(
    runner: CliRunner, tmp_path: Path, write_file: Callable[[str, str | bytes], Path], tiny_pubtator: Path
) -> None:
    data = tiny_pubtator
    config = write_file(
        "tiny.toml",
        f'''base = "minilm"
max_length = 64
stride = 16
batch_size = 2
epochs = 1
max_steps = 2
progress = false

[lora]
enabled = true
r = 4
alpha = 8
target_modules = ["query", "value"]

[[corpora]]
name = "toy"
head = "bc5cdr"
train = "bc5cdr:{data}"
dev = "bc5cdr:{data}"
''',
    )
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--config", str(config), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "best" / "adapter.safetensors").is_file()
    assert (out / "metrics.jsonl").is_file()
    bad = runner.invoke(app, ["train", "--config", str(config), "no_such_key=1"])
    assert bad.exit_code != 0 and "no_such_key" in bad.stderr


def test_evaluate_assertion_block_with_gold_spans(runner: CliRunner, tmp_path: Path) -> None:
    folder = tmp_path / "brat"
    folder.mkdir()
    text = "She denies fever. She has a cough.\n"
    (folder / "d1.txt").write_text(text, encoding="utf-8")
    (folder / "d1.ann").write_text(
        "T1\tSign_symptom 11 16\tfever\nE1\tSign_symptom:T1\nA1\tPOLARITY E1 NEG\nT2\tSign_symptom 28 33\tcough\n",
        encoding="utf-8",
    )
    label_map = tmp_path / "map.json"
    label_map.write_text(json.dumps({"label_map": {"Sign_symptom": "FINDING"}}), encoding="utf-8")
    out = tmp_path / "m.json"
    args = ["evaluate", "--data", f"brat:{folder}", "--label-map", str(label_map), "--ner", "lexicon", "--gold-spans", "--output", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(out.read_text(encoding="utf-8"))
    negated = metrics["assertion"]["negated"]
    assert set(negated) == {"precision", "recall", "f1", "support"}
    assert negated["support"] == 1 and negated["f1"] == 1.0


def test_int8_keeps_feed_forward_outputs_in_float_and_stays_close_to_fp32() -> None:
    """int8 quantises every Linear but each FFN output projection (its input has the outlier
    features one int8 scale cannot hold), and a tiny BERT's output barely moves."""
    import copy

    import torch
    from transformers import BertConfig, BertModel

    from clinnlp.ner.precision import apply_precision, int8_layers

    torch.manual_seed(0)
    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    model = BertModel(config).eval()
    names = int8_layers(model)
    assert "encoder.layer.0.attention.output.dense" in names and "encoder.layer.1.intermediate.dense" in names
    assert not any(n.endswith("layer.0.output.dense") or n.endswith("layer.1.output.dense") for n in names)
    ids = torch.randint(0, 50, (2, 12))
    with torch.inference_mode():
        expected = model(input_ids=ids).last_hidden_state
        quantised = apply_precision(copy.deepcopy(model), "int8")
        got = quantised(input_ids=ids).last_hidden_state
    assert isinstance(quantised.encoder.layer[0].output.dense, torch.nn.Linear)
    assert not isinstance(quantised.encoder.layer[0].intermediate.dense, torch.nn.Linear)
    assert torch.nn.functional.cosine_similarity(expected.flatten(), got.flatten(), dim=0) > 0.99


@pytest.mark.parametrize(("precision", "device"), [("fp16", "cpu"), ("int8", "cuda")])
def test_precision_outside_the_allowed_set_is_a_config_error(precision: str, device: str) -> None:
    from clinnlp.errors import ConfigError
    from clinnlp.ner.precision import check_precision

    with pytest.raises(ConfigError, match="precision"):
        check_precision(precision, device)
