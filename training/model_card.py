"""The model card (README.md in the run folder): what the model is for and how it scored."""

from __future__ import annotations

from pathlib import Path

from framing.model.labels import DEFINITIONS, LABELS
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
    return lines


def write_model_card(folder: Path, config: Config, metrics: dict, versions: dict[str, str]) -> None:
    lines = [
        "---",
        "language: [ar, en]",
        "library_name: transformers",
        "pipeline_tag: text-classification",
        "base_model: intfloat/multilingual-e5-small",
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
        f"`query: ` + the sentence, then the preceding sentence of the same article as a second segment"
        f" (context {'on' if config.model.use_context else 'off'}), at most {config.model.max_length} tokens;"
        " over-long sentences keep their first and last tokens.",
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
