"""The model card (README.md in the run folder): what the model is for and how it scored."""

from __future__ import annotations

from pathlib import Path

from framing.model.labels import DEFINITIONS, LABELS
from framing.model.packaged_e5 import BASE_MODEL_ID
from framing.training.config import Config


def _metrics_table(report: dict) -> list[str]:
    lines = [
        "| scope | sentences | macro-F1 | accuracy |",
        "|---|---:|---:|---:|",
        f"| all | {report['n']} | {report['macro_f1']:.3f} | {report['accuracy']:.3f} |",
    ]
    for lang, stats in report["per_language"].items():
        lines.append(f"| {lang} | {stats['n']} | {stats['macro_f1']:.3f} | {stats['accuracy']:.3f} |")
    lines += ["", "| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
    for label, stats in report["per_label"].items():
        lines.append(f"| {label} | {stats['precision']:.3f} | {stats['recall']:.3f} | {stats['f1']:.3f} | {stats['support']} |")
    if "ece" in report:
        lines += ["", f"Expected calibration error (10 bins): {report['ece']:.3f}"]
    if "source" in report:
        keys = ("span_exact_f1", "span_token_f1", "source_type_macro_f1", "named_f1", "vague_f1")
        lines += [
            "",
            "| scope | span exact F1 | span token F1 | source type macro-F1 | named F1 | vague F1 |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for scope, stats in {"all": report["source"], **report["source"]["per_language"]}.items():
            cells = " | ".join("–" if stats.get(k) is None else f"{stats[k]:.3f}" for k in keys)
            lines.append(f"| {scope} | {cells} |")
    return lines


def card_metadata(folder: Path, config: Config, metrics: dict, base_model: str) -> dict:
    """The card's YAML front matter, as the Hugging Face Hub reads it: what the folder is
    (library, base model, license, task, custom code) and how it scored (model-index)."""
    results = []
    for split in ("dev", "test"):
        if split in metrics:
            results.append(
                {
                    "task": {"type": "text-classification", "name": "Sentence sourcing (framing)"},
                    "dataset": {"name": f"framing corpus, {split} split", "type": "framing-corpus", "split": split},
                    "metrics": [
                        {"type": "f1", "name": "macro-F1", "value": round(metrics[split]["macro_f1"], 4)},
                        {"type": "accuracy", "name": "accuracy", "value": round(metrics[split]["accuracy"], 4)},
                    ],
                }
            )
    return {
        "language": ["ar", "en"],
        "license": "mit",
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "base_model": base_model,
        "tags": ["framing", "news", "sourcing", "custom_code"],
        "metrics": ["f1", "accuracy"],
        "model-index": [{"name": folder.name, "results": results}],
    }


def write_model_card(folder: Path, config: Config, metrics: dict, versions: dict[str, str], base_model: str = "") -> None:
    import yaml

    base_model = base_model or (BASE_MODEL_ID if config.model.base == "packaged-e5" else config.model.base)
    front = yaml.safe_dump(card_metadata(folder, config, metrics, base_model), sort_keys=False, allow_unicode=True)
    lines = [
        "---",
        *front.strip().splitlines(),
        "---",
        "# Framing classifier",
        "",
        "Labels each sentence of Arabic or English news by how its main claim is sourced.",
        "",
        "## Intended use",
        "Sentence-level sourcing analysis of news coverage: reading an article by its framing, and",
        "comparing outlets in aggregate. Not for judging a single sentence's truth, and not for",
        "languages other than Arabic and English (they are flagged, not classified reliably).",
        "",
        "## Labels",
        *[f"- `{label}`: {DEFINITIONS[label]}" for label in LABELS],
        "",
        "## Input",
        (
            f"`query: ` + the sentence, then the preceding sentence of the same article as a second segment"
            f" (context {'on' if config.model.use_context else 'off'}), at most {config.model.max_length} tokens;"
            " over-long sentences keep their first and last tokens."
            if config.model.input_mode == "pair"
            else f"Consecutive sentences of an article in windows of at most {config.model.window_tokens} tokens, each"
            f" sentence pooled over its own tokens, each window opening with up to {config.model.context_max_tokens}"
            f" tokens of the sentences before it; sentences over {config.model.max_length} tokens keep their first"
            " and last tokens."
        ),
        *(
            [
                "",
                "## Source outputs",
                "Besides the label: the source span (start and end token), its type (the nine types of the corpus),",
                "whether it is named, and a vague-attribution flag; loss weights "
                + ", ".join(f"{k} {v}" for k, v in config.training.loss_weights.model_dump().items())
                + ".",
            ]
            if config.model.source_heads
            else []
        ),
        "",
        "## Training data",
        f"Files: {', '.join(metrics['corpus_files'])} (sha256 {metrics['corpus_sha256'][:16]}…), "
        f"{metrics['train_sentences']} training sentences; label counts: {metrics['label_counts_train']}.",
        f"Seed {config.seed}; {metrics['epochs_run']} epochs in {metrics['train_seconds']} s; "
        f"temperature {metrics['temperature']:.3f}. The full resolved config is in config.yaml.",
        "",
        "## Metrics",
        "### Dev",
        *_metrics_table(metrics["dev"]),
    ]
    if "test" in metrics:
        lines += ["", "### Test (held-out articles)", *_metrics_table(metrics["test"])]
    lines += [
        "",
        "## With transformers",
        "```python",
        "from transformers import pipeline",
        "",
        'classify = pipeline("text-classification", model="PATH/TO/THIS/FOLDER", trust_remote_code=True)',
        'classify({"text": "He added more would come.", "text_pair": "The ministry said 40 tankers arrived."})',
        "```",
        "The mean-pooling head and the input format ship as code (`modeling_framing.py`); without",
        "`trust_remote_code=True` the pipeline refuses to load rather than run an untrained head.",
        "",
        "## Known limits",
        "- Trained on a corpus written for this project, not on scraped news; real outlets' styles differ.",
        "- The hardest distinction is analyst_claim against attributed_fact, Arabic most of all.",
        '- A follow-on sentence ("he added") is resolved from the one preceding sentence only.',
        "",
        "## Library versions",
        *[f"- {name} {version}" for name, version in versions.items()],
        "",
    ]
    (folder / "README.md").write_text("\n".join(lines), encoding="utf-8")
