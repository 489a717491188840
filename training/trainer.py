"""Fine-tune the multi-head NER: ``train(config) -> TrainResult``.

One run trains a shared encoder (LoRA or full) and one head per label set on several
corpora at once; each batch comes from one corpus and trains that corpus's head. After
every epoch (and every ``eval_every`` steps) the model tags each dev split with
:func:`clinnlp.ner.predict.predict_documents` and is scored with
:func:`clinnlp.metrics.score_mentions` (strict micro F1 on character spans, the corpora's
published metric); the mean over corpora selects ``output/best`` and drives early
stopping. ``output/last`` is the latest state, ``output/metrics.jsonl`` one line per
evaluation, ``output/learning_curves.png`` the plot.

Run as ``python -m clinnlp.training.trainer --config FILE [--output DIR] [key=value ...]``.
Needs torch, transformers, accelerate (and peft for LoRA, rich for the bar); no spaCy.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import shutil
import sys
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from clinnlp.training.config import CorpusConfig, TrainConfig, load_config

from clinnlp.errors import ClinnlpError, ConfigError
from clinnlp.metrics import score_mentions
from clinnlp.ner.labels import DEFAULT_MIN_SCORE, Head, get_head
from clinnlp.ner.model import LoraSettings, MultiHeadTokenClassifier, load_tokenizer, resolve_base
from clinnlp.ner.predict import pad_batch, predict_documents
from clinnlp.ner.windows import IGNORE, SpecialTokens, Window, encode_texts, make_windows, spans_to_token_labels
from clinnlp.readers.registry import load_corpus
from clinnlp.readers.types import GoldDocument

logger = logging.getLogger(__name__)


@dataclass
class CorpusData:
    """A corpus ready to train on: its head, labelled train windows and dev documents."""

    config: CorpusConfig
    head: Head
    windows: list[Window]
    dev_docs: list[GoldDocument]
    train_docs: int
    train_tokens: int
    dropped_spans: int

    @property
    def name(self) -> str:
        return self.config.name


@dataclass
class TrainResult:
    """Where the run left its models, and how it went."""

    output: Path
    best_dir: Path
    last_dir: Path
    best_f1: float
    #: the best checkpoint's mean dev F1 without mentions under the cut-off that ``extract``
    #: and ``evaluate`` apply (selection uses ``best_f1``, the model's raw decoding)
    best_f1_min_score: float
    best_step: int
    best_epoch: int
    steps: int
    epochs_completed: int
    stopped_early: bool
    train_tokens: int
    train_seconds: float
    tokens_per_second: float
    device: str
    precision: str
    history: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("history")
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}


def resolve_precision(precision: str) -> str:
    """``auto``: bf16 on GPUs that support it, fp16 on older GPUs, full precision on CPU."""
    cuda = torch.cuda.is_available()
    if precision == "auto":
        if not cuda:
            return "no"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and not cuda:
        raise ConfigError("precision fp16 needs a GPU; use bf16 or no on CPU")
    return precision


def _check_types(corpus: str, types: tuple[str, ...], docs: Sequence[GoldDocument], split: str = "train") -> None:
    """Refuse a head none of whose types occurs in the train (or dev) data (a typo in ``types``
    would otherwise train on nothing and still report dev F1 1.0, or select on a dev F1 of 0),
    and warn about the types that are missing or that the data has and the head does not
    (their mentions are not learnt, or not scored)."""
    counts = Counter(span.label for doc in docs for span in doc.spans)
    if not any(counts[t] for t in types):
        found = ", ".join(f"{t} ({n})" for t, n in counts.most_common()) or "none"
        raise ConfigError(f"corpus {corpus!r}: none of its head's types ({', '.join(types)}) occurs in its {split} data; types found: {found}")
    missing = [t for t in types if not counts[t]]
    unused = [f"{t} ({n})" for t, n in counts.most_common() if t not in types]
    if missing:
        logger.warning("corpus %s: head types with no %s mention: %s", corpus, split, ", ".join(missing))
    if unused:
        what = "not learnt" if split == "train" else "not scored"
        logger.warning("corpus %s: %s mentions of types the head does not have, %s: %s", corpus, split, what, ", ".join(unused))


def load_corpora(config: TrainConfig, tokenizer: Any) -> list[CorpusData]:
    """Read every corpus, label its train documents for its head, cut them into windows."""
    root = Path(config.corpora_root) if config.corpora_root else None
    special = SpecialTokens.of(tokenizer)
    result = []
    for c in config.corpora:
        head = get_head(c.head, c.types or None)
        train_docs = load_corpus(c.train, "train", root)
        dev_docs = load_corpus(c.dev, "dev", root)
        if config.max_train_docs:
            train_docs = train_docs[: config.max_train_docs]
        if config.max_dev_docs:
            dev_docs = dev_docs[: config.max_dev_docs]
        if not train_docs or not dev_docs:
            raise ConfigError(f"corpus {c.name!r} has no train or no dev documents")
        _check_types(c.name, head.types, train_docs)
        _check_types(c.name, head.types, dev_docs, "dev")
        windows: list[Window] = []
        dropped = tokens = 0
        for index, encoded in enumerate(encode_texts(tokenizer, [d.text for d in train_docs])):
            labels, lost = spans_to_token_labels(encoded, train_docs[index].spans, head)
            dropped += lost
            tokens += len(encoded)
            windows.extend(make_windows(encoded, index, special, config.max_length, config.stride, labels))
        result.append(CorpusData(c, head, windows, dev_docs, len(train_docs), tokens, dropped))
        logger.info(
            "%s (head %s): %d train docs, %d windows, %d tokens, %d overlapping spans dropped; %d dev docs",
            c.name, head.name, len(train_docs), len(windows), tokens, dropped, len(dev_docs),
        )
    return result


def shuffled_batches(windows: Sequence[Window], batch_size: int, rng: random.Random) -> list[list[Window]]:
    """Random batches of windows of similar length (less padding), in random order.

    Windows are shuffled, then sorted by length within pools of 50 batches, so batches
    stay random across epochs; the batch count is always ``ceil(len / batch_size)``.
    """
    order = list(range(len(windows)))
    rng.shuffle(order)
    pool = batch_size * 50
    batches = []
    for at in range(0, len(order), pool):
        part = sorted(order[at : at + pool], key=lambda k: len(windows[k].input_ids))
        batches.extend([[windows[k] for k in part[j : j + batch_size]] for j in range(0, len(part), batch_size)])
    rng.shuffle(batches)
    return batches


def steps_per_epoch(corpora: Sequence[CorpusData], batch_size: int, mixing: str) -> int:
    counts = [math.ceil(len(c.windows) / batch_size) for c in corpora]
    return sum(counts) if mixing == "proportional" else len(counts) * max(counts)


def epoch_plan(
    corpora: Sequence[CorpusData], batch_size: int, mixing: str, rng: random.Random
) -> list[tuple[int, list[Window]]]:
    """``(corpus index, batch)`` for one epoch.

    ``proportional``: every window once, corpora interleaved at random, so each head gets
    batches in proportion to its corpus size. ``round_robin``: heads take turns until the
    largest corpus is through; smaller ones start over (reshuffled) when exhausted.
    """
    per = [shuffled_batches(c.windows, batch_size, rng) for c in corpora]
    if mixing == "proportional":
        plan = [(i, b) for i, batches in enumerate(per) for b in batches]
        rng.shuffle(plan)
        return plan
    plan = []
    queues = [list(b) for b in per]
    for _ in range(max(len(b) for b in per)):
        for i, corpus in enumerate(corpora):
            if not queues[i]:
                queues[i] = shuffled_batches(corpus.windows, batch_size, rng)
            plan.append((i, queues[i].pop()))
    return plan


def collate(batch: Sequence[Window], pad_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding to the longest window of the batch; padded labels are ignored."""
    ids, mask = pad_batch([w.input_ids for w in batch], pad_id)
    labels = torch.full(ids.shape, IGNORE, dtype=torch.long)
    for row, w in enumerate(batch):
        assert w.labels is not None
        labels[row, : len(w.labels)] = torch.tensor(w.labels, dtype=torch.long)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def evaluate(
    model: torch.nn.Module, tokenizer: Any, corpora: Sequence[CorpusData], config: TrainConfig, device: torch.device
) -> dict[str, dict[str, float]]:
    """Strict (and lenient) micro scores per corpus on its dev split, on its head's types."""
    was_training = model.training
    model.eval()
    scores = {}
    for c in corpora:
        predicted = predict_documents(
            model,
            tokenizer,
            [d.text for d in c.dev_docs],
            c.head,
            max_length=config.max_length,
            stride=config.stride,
            batch_size=config.eval_batch_size,
            device=device,
        )
        result = score_mentions(
            ((d.doc_id, d.spans, [p[:3] for p in spans]) for d, spans in zip(c.dev_docs, predicted)),
            types=c.head.types,
        )
        # what extract and evaluate give: they drop mentions under the mention-score cut-off
        kept = score_mentions(
            ((d.doc_id, d.spans, [p[:3] for p in spans if p.score >= DEFAULT_MIN_SCORE]) for d, spans in zip(c.dev_docs, predicted)),
            types=c.head.types,
        )
        strict = result["strict"]["micro"]
        scores[c.name] = {
            "f1": strict["f1"],
            "precision": strict["precision"],
            "recall": strict["recall"],
            "lenient_f1": result["lenient"]["micro"]["f1"],
            "f1_min_score": kept["strict"]["micro"]["f1"],
        }
    model.train(was_training)
    return scores


def _parameter_groups(model: MultiHeadTokenClassifier, config: TrainConfig) -> list[dict[str, Any]]:
    """Encoder at ``lr`` and heads at ``head_lr``; no weight decay on biases and norms."""
    groups: dict[tuple[str, bool], list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        part = "heads" if name.startswith("heads.") else "encoder"
        decay = param.ndim > 1 and "norm" not in name.lower()
        groups.setdefault((part, decay), []).append(param)
    return [
        {
            "params": params,
            "lr": config.head_lr if part == "heads" else config.lr,
            "weight_decay": config.weight_decay if decay else 0.0,
        }
        for (part, decay), params in groups.items()
    ]


def _freeze_embeddings(model: MultiHeadTokenClassifier) -> int:
    """Keep the encoder's embedding layer (a third of MiniLM's weights) at the base's values.

    Why: with full fine-tuning, what changes is then only the transformer layers, so a
    model can be stored as those layers alone; the vocabulary rows a corpus never uses
    would otherwise drift under weight decay for nothing. Returns the frozen count.
    """
    frozen = 0
    for name, param in model.encoder.named_parameters():
        if name.startswith("embeddings.") or ".embeddings." in name:
            param.requires_grad_(False)
            frozen += param.numel()
    if not frozen:
        raise ConfigError("freeze_embeddings: the encoder has no 'embeddings' module to freeze")
    return frozen


def _save(model: MultiHeadTokenClassifier, target: Path) -> None:
    """Save beside the target and swap it in, so a crash never leaves half a checkpoint."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(tmp)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)


def plot_learning_curves(history: Sequence[dict[str, Any]], path: Path) -> bool:
    """Train loss and dev strict F1 per corpus against steps; False (with a warning) without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        warnings.warn("matplotlib is not installed: learning curves not plotted", stacklevel=2)
        return False
    if not history:
        return False
    steps = [h["step"] for h in history]
    fig = Figure(figsize=(10, 4))
    loss_ax, f1_ax = fig.subplots(1, 2)
    loss_ax.plot(steps, [h["train_loss"] for h in history], marker="o")
    loss_ax.set(xlabel="step", ylabel="train loss", title="training loss")
    for name in history[0]["dev"]:
        f1_ax.plot(steps, [h["dev"][name]["f1"] for h in history], marker="o", label=name)
    if len(history[0]["dev"]) > 1:
        f1_ax.plot(steps, [h["dev_f1"] for h in history], linestyle="--", color="black", label="mean")
    f1_ax.set(xlabel="step", ylabel="strict micro F1", title="dev F1", ylim=(0, 1))
    f1_ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def train(config: TrainConfig) -> TrainResult:
    """Train, evaluate, checkpoint and early-stop as ``config`` says; see the module docstring."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    set_seed(config.seed)
    rng = random.Random(config.seed)
    precision = resolve_precision(config.precision)
    accelerator = Accelerator(mixed_precision=precision)
    if accelerator.num_processes > 1:
        # batches are planned per process and not sharded; a multi-GPU launch would repeat them
        raise ConfigError("training runs in one process (one GPU or CPU); launch it without accelerate launch")
    device = accelerator.device
    output = Path(config.output)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"output {str(output)!r} is a file; name a folder for the run")
    if output.is_dir() and any(output.iterdir()) and not config.overwrite:
        raise ConfigError(
            f"output folder {str(output)!r} already holds files (an earlier run?); give a new --output, "
            "or --overwrite to replace its best/ and last/"
        )

    tokenizer = load_tokenizer(resolve_base(config.base).location)
    corpora = load_corpora(config, tokenizer)
    # written only once the corpora load, so a failed start leaves no config behind
    output.mkdir(parents=True, exist_ok=True)
    (output / "train_config.json").write_text(json.dumps(config.to_dict(), indent=2) + "\n", encoding="utf-8")
    heads = {c.head.name: c.head for c in corpora}
    lora = LoraSettings(
        enabled=config.lora.enabled,
        r=config.lora.r,
        alpha=config.lora.alpha,
        dropout=config.lora.dropout,
        target_modules=tuple(config.lora.target_modules),
    )
    model = MultiHeadTokenClassifier.from_base(
        config.base,
        heads,
        max_length=config.max_length,
        stride=config.stride,
        dropout=config.dropout,
        lora=lora,
        record_base=config.recorded_base,
        labels={c.head: dict(c.labels) for c in config.corpora if c.labels},
    )
    if config.freeze_embeddings:
        _freeze_embeddings(model)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    logger.info("device %s, precision %s, %d of %d parameters trainable", device, precision, trainable, total)

    per_epoch = steps_per_epoch(corpora, config.batch_size, config.mixing)
    total_steps = config.epochs * per_epoch
    if config.max_steps:
        total_steps = min(total_steps, config.max_steps)
    warmup = int(config.warmup * total_steps) if config.warmup < 1 else int(config.warmup)
    optimizer = torch.optim.AdamW(_parameter_groups(model, config))
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup, total_steps)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    best_dir, last_dir = output / "best", output / "last"
    metrics_path = output / "metrics.jsonl"
    metrics_path.write_text("", encoding="utf-8")
    history: list[dict[str, Any]] = []
    best_f1, best_step, best_epoch, bad_evals = -1.0, 0, 0, 0
    best_f1_min_score = 0.0
    step = epochs_done = tokens = 0
    train_seconds = 0.0
    started = time.perf_counter()
    loss_sum = torch.zeros((), device=device)
    loss_steps = 0
    stopped_early = False
    last_eval_step = -1

    def run_eval(epoch: int) -> bool:
        """Evaluate, log, keep the best; True when patience has run out."""
        nonlocal best_f1, best_f1_min_score, best_step, best_epoch, bad_evals, loss_sum, loss_steps, last_eval_step
        dev = evaluate(model, tokenizer, corpora, config, device)
        mean_f1 = sum(s["f1"] for s in dev.values()) / len(dev)
        record = {
            "epoch": epoch,
            "step": step,
            "train_loss": (loss_sum.item() / loss_steps) if loss_steps else None,
            "dev": dev,
            "dev_f1": mean_f1,
            "lr": scheduler.get_last_lr()[0],
            "train_tokens": tokens,
            "tokens_per_s": tokens / train_seconds if train_seconds else 0.0,
            "elapsed_s": round(time.perf_counter() - started, 2),
        }
        loss_sum, loss_steps, last_eval_step = torch.zeros((), device=device), 0, step
        history.append(record)
        with metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        per_corpus = ", ".join(f"{n} {s['f1']:.4f}" for n, s in dev.items())
        logger.info("epoch %d step %d: loss %s, dev strict F1 %s (mean %.4f)", epoch, step,
                    f"{record['train_loss']:.4f}" if record["train_loss"] is not None else "-", per_corpus, mean_f1)
        if mean_f1 > best_f1 + 1e-6:
            best_f1, best_step, best_epoch, bad_evals = mean_f1, step, epoch, 0
            best_f1_min_score = sum(s["f1_min_score"] for s in dev.values()) / len(dev)
            _save(accelerator.unwrap_model(model), best_dir)
            shutil.copyfile(output / "train_config.json", best_dir / "train_config.json")  # the model says where it came from
            return False
        bad_evals += 1
        return bool(config.patience) and bad_evals >= config.patience

    progress = _progress(config.progress and accelerator.is_main_process)
    task = progress.add_task("training", total=total_steps) if progress else None
    model.train()
    try:
        if progress:
            progress.start()
        for epoch in range(1, config.epochs + 1):
            tick = time.perf_counter()
            for corpus_index, batch in epoch_plan(corpora, config.batch_size, config.mixing, rng):
                inputs = {k: v.to(device) for k, v in collate(batch, pad_id).items()}
                out = model(**inputs, head=corpora[corpus_index].head.name)
                accelerator.backward(out.loss)
                if config.max_grad_norm:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                loss_sum += out.loss.detach().float()
                loss_steps += 1
                tokens += int(inputs["attention_mask"].sum())
                step += 1
                if progress and task is not None:
                    progress.update(task, advance=1, description=f"epoch {epoch}/{config.epochs}")
                done = bool(config.max_steps) and step >= config.max_steps
                if config.eval_every and step % config.eval_every == 0 and not done:
                    train_seconds += time.perf_counter() - tick
                    stopped_early = run_eval(epoch)
                    tick = time.perf_counter()
                    if stopped_early:
                        break
                if done:
                    break
            train_seconds += time.perf_counter() - tick
            epochs_done = epoch
            if not stopped_early and last_eval_step != step:
                stopped_early = run_eval(epoch)
            _save(accelerator.unwrap_model(model), last_dir)
            if stopped_early or (config.max_steps and step >= config.max_steps):
                break
    finally:
        if progress:
            progress.stop()
    if stopped_early:
        logger.info("early stop: no better dev F1 in %d evaluations", config.patience)
    plot_learning_curves(history, output / "learning_curves.png")
    return TrainResult(
        output=output,
        best_dir=best_dir,
        last_dir=last_dir,
        best_f1=best_f1,
        best_f1_min_score=best_f1_min_score,
        best_step=best_step,
        best_epoch=best_epoch,
        steps=step,
        epochs_completed=epochs_done,
        stopped_early=stopped_early,
        train_tokens=tokens,
        train_seconds=round(train_seconds, 2),
        tokens_per_second=round(tokens / train_seconds, 1) if train_seconds else 0.0,
        device=str(device),
        precision=precision,
        history=history,
    )


def _progress(enabled: bool) -> Any:
    """A rich progress bar, or None (disabled, or rich missing)."""
    if not enabled:
        return None
    try:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
    except ImportError:
        return None
    from rich.console import Console

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),  # stdout is for the result line
        transient=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m clinnlp.training.trainer --config FILE [--output DIR] [key=value ...]``."""
    parser = argparse.ArgumentParser(prog="python -m clinnlp.training.trainer", description="Train the clinnlp NER.")
    parser.add_argument("--config", required=True, help="TOML training config")
    parser.add_argument("--output", help="output folder (same as output=DIR)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, dotted keys")
    args = parser.parse_args(argv)
    overrides = [*args.overrides, *([f"output={args.output}"] if args.output else [])]
    try:
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False)
    except ImportError:
        handler = logging.StreamHandler()
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[handler])
    try:
        result = train(load_config(args.config, overrides))
    except ClinnlpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result.summary(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
