"""Public inference API: `FramingClassifier.from_pretrained(path).predict(sentences)`."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from framing.errors import FramingError
from framing.model.features import encode_sentence, pad_batch_numpy
from framing.model.folder import ModelFolderError, check_model_folder, inference_tokenizer, load_adapter
from framing.model.labels import LABELS
from framing.model.langid import detect_language, is_supported
from framing.model.segment import segment
from framing.model.settings import ModelSettings

if TYPE_CHECKING:
    from framing.model.modeling import E5ForFramingClassification


@dataclass(frozen=True)
class Prediction:
    label: str
    scores: dict[str, float]


@dataclass(frozen=True)
class ClassifiedSentence:
    text: str
    start: int
    end: int
    lang: str
    label: str
    scores: dict[str, float]

    def to_dict(self) -> dict:
        return asdict(self)


Backend = Literal["auto", "onnx", "onnx-fp32", "torch"]


class FramingClassifier:
    """Labels news sentences as attributed_fact, analyst_claim, unattributed_assertion or other."""

    def __init__(
        self, model: E5ForFramingClassification | None, tokenizer, path: Path | None = None, onnx=None, config=None
    ) -> None:
        """`model` (torch) or `onnx` (a `model.onnx_backend.OnnxLogits`, with `config`: config.json's
        dict or a transformers config) computes the logits."""
        if model is None and onnx is None:
            raise ValueError("a torch model or an ONNX runner is needed")
        self.model = model.eval() if model is not None else None
        self.onnx = onnx
        self.tokenizer = tokenizer
        self.path = path
        if config is None:
            assert model is not None  # checked above: one of the two is given
            config = model.config
        model_settings = ModelSettings.from_config(config)
        self.settings = model_settings.input
        self.temperature = model_settings.temperature
        self.backend = "torch" if onnx is None else f"onnx-{'int8' if onnx.path.name.endswith('int8.onnx') else 'fp32'}"

    @classmethod
    def from_pretrained(cls, path: str | Path, backend: Backend = "auto", trust: bool = False) -> FramingClassifier:
        """Load a model folder: a full model, or a LoRA adapter over its recorded base model.

        backend: "auto" runs the int8 ONNX model (converted and cached on first use),
        falling back to torch with a warning if onnxruntime is missing or the conversion fails;
        "onnx" and "onnx-fp32" raise instead of falling back; "torch" is the fp32 torch model.
        Once converted, the ONNX path loads in about a second: it imports neither torch nor
        transformers.

        Every file the folder contributes is checked against its checksums.json; a folder
        without one (a plain transformers folder from elsewhere) loads only with `trust=True`.
        """
        folder = Path(path)
        if backend not in ("auto", "onnx", "onnx-fp32", "torch"):
            raise FramingError(f"backend must be auto, onnx, onnx-fp32 or torch, not {backend!r}")
        config = check_model_folder(folder, trust=trust)
        is_adapter = (folder / "adapter_config.json").is_file()
        if backend != "torch":
            try:
                from framing.model.onnx_backend import OnnxLogits

                precision: Literal["int8", "fp32"] = "fp32" if backend == "onnx-fp32" else "int8"
                onnx = OnnxLogits.from_folder(folder, precision=precision, checked=True, trust=trust)
            except Exception as exc:  # any failure of the optional fast path must leave the torch path usable
                if backend != "auto" or isinstance(exc, ModelFolderError):
                    raise
                warnings.warn(f"ONNX backend unavailable ({type(exc).__name__}: {exc}); using torch", stacklevel=2)
            else:
                return cls(None, inference_tokenizer(folder, config, is_adapter), folder, onnx=onnx, config=config)
        if is_adapter:
            model, tokenizer = load_adapter(folder, config)
        else:
            from transformers import AutoTokenizer

            from framing.model.modeling import E5ForFramingClassification

            model = E5ForFramingClassification.from_pretrained(folder, use_safetensors=True)
            tokenizer = AutoTokenizer.from_pretrained(folder)
        return cls(model, tokenizer, folder)

    @property
    def name(self) -> str | None:
        """The model folder's name, for output rows (`model`)."""
        return self.path.resolve().name if self.path is not None else None

    @property
    def checksum(self) -> str | None:
        """One sha256 for the model folder (`framing.model.folder.model_checksum`), computed on
        first use; None for a model that was never saved (during training)."""
        if self.path is None:
            return None
        if getattr(self, "_checksum", None) is None:
            from framing.model.folder import model_checksum

            self._checksum = model_checksum(self.path)
        return self._checksum

    def predict_logits(
        self,
        sentences: Sequence[str],
        contexts: Sequence[str | None] | None = None,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Raw logits (before temperature), one row per sentence, columns in `LABELS` order."""
        if isinstance(sentences, str):
            # A str is a Sequence of characters: one sentence, not one prediction per character.
            sentences = [sentences]
            contexts = [contexts] if isinstance(contexts, str) else contexts
        if contexts is None:
            contexts = [None] * len(sentences)
        if len(contexts) != len(sentences):
            raise ValueError("contexts must be as many as sentences")
        features = [encode_sentence(self.tokenizer, s, c, self.settings) for s, c in zip(sentences, contexts, strict=True)]
        # Length-sorted batches pad far less, which roughly doubles CPU throughput.
        order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
        logits = np.zeros((len(features), len(LABELS)), dtype=np.float32)
        pad_id = self.tokenizer.pad_token_id
        run: Callable[[list[dict]], np.ndarray]
        mode: contextlib.AbstractContextManager
        if self.onnx is not None:
            onnx = self.onnx
            run, mode = (lambda rows: onnx(pad_batch_numpy(rows, pad_id))), contextlib.nullcontext()
        else:
            import torch

            from framing.model.modeling import pad_batch

            model = self.model
            assert model is not None  # no ONNX runner means a torch model (checked in __init__)
            run, mode = (lambda rows: model(**pad_batch(rows, pad_id)).logits.numpy()), torch.inference_mode()
        with mode:
            for begin in range(0, len(order), batch_size):
                idx = order[begin : begin + batch_size]
                logits[idx] = run([features[i] for i in idx])
                if on_batch:
                    on_batch(len(idx))
        return logits

    def predict_proba(
        self,
        sentences: Sequence[str],
        contexts: Sequence[str | None] | None = None,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Probabilities, one row per sentence, columns in `LABELS` order (temperature-scaled)."""
        scaled = self.predict_logits(sentences, contexts, batch_size, on_batch) / self.temperature
        exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(
        self,
        sentences: Sequence[str],
        contexts: Sequence[str | None] | None = None,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[Prediction]:
        """A label and a probability per label for each sentence. `contexts[i]`, when given,
        is the sentence before `sentences[i]` in the same article. A single string is one
        sentence (a list of one prediction), never a sequence of characters."""
        probs = self.predict_proba(sentences, contexts, batch_size, on_batch)
        return [
            Prediction(LABELS[int(row.argmax())], {label: float(p) for label, p in zip(LABELS, row, strict=True)})
            for row in probs
        ]

    def classify_article(self, text: str, batch_size: int = 32) -> list[ClassifiedSentence]:
        """Segment an article and label each sentence, each seeing the one before it."""
        return self.classify_articles([text], batch_size)[0]

    def classify_dataframe(self, df, text: str = "text", id: str | None = None, sentences: bool = False, batch_size: int = 32):
        """One row per sentence of a pandas DataFrame, as a new DataFrame: the input row's other
        columns, `article` (the `id` column, or the row's index), `sentence`, `start`, `end`,
        `text`, `lang`, `label`, a `p_<label>` column per label, `model` and `model_sha256`.

        `sentences=True` reads each row as one sentence instead (consecutive rows with the same
        `article` give each other context; an input `label` is kept as `gold_label`). A row
        whose text is missing or not a string is an error naming its index: drop such rows
        first (`df.dropna(subset=[text])`) rather than have them vanish unseen."""
        import pandas as pd

        from framing.errors import FramingError

        if text not in df.columns:
            raise FramingError(f"DataFrame: no column {text!r} (columns: {', '.join(map(str, df.columns))})")
        if id is not None and id not in df.columns:
            raise FramingError(f"DataFrame: no column {id!r} (columns: {', '.join(map(str, df.columns))})")
        bad = [index for index, value in df[text].items() if not isinstance(value, str)]
        if bad:
            raise FramingError(
                f"DataFrame: {len(bad)} row(s) with no text in {text!r}, the first at index {bad[0]!r}; "
                f"drop them first (df.dropna(subset=[{text!r}]))"
            )
        made_by = {"model": self.name, "model_sha256": self.checksum} if self.path is not None else {}
        others = [c for c in df.columns if c != text]
        records = df[others].to_dict("records")
        out: list[dict] = []
        if sentences:
            texts = df[text].tolist()
            articles = df["article"].tolist() if "article" in df.columns else [None] * len(texts)
            contexts = [
                texts[i - 1] if i and articles[i] is not None and articles[i] == articles[i - 1] else None
                for i in range(len(texts))
            ]
            for record, sentence, p in zip(records, texts, self.predict(texts, contexts, batch_size), strict=True):
                if "label" in record:
                    record["gold_label"] = record.pop("label")
                scores = {f"p_{label}": score for label, score in p.scores.items()}
                lang = detect_language(sentence)
                out.append({**record, "text": sentence, "lang": lang, "label": p.label, **scores, **made_by})
        else:
            ids = df[id].tolist() if id is not None else df.index.tolist()
            for record, article_id, article in zip(
                records, ids, self.classify_articles(df[text].tolist(), batch_size), strict=True
            ):
                base = {k: v for k, v in record.items() if k != "id"}
                for index, s in enumerate(article):
                    scores = {f"p_{label}": score for label, score in s.scores.items()}
                    place = {"id": f"{article_id}:{index}", "article": article_id, "sentence": index, "start": s.start}
                    place |= {"end": s.end, "text": s.text}
                    out.append({**base, **place, "lang": s.lang, "label": s.label, **scores, **made_by})
        return pd.DataFrame(out)

    def classify_articles(
        self, texts: Sequence[str], batch_size: int = 32, on_batch: Callable[[int], None] | None = None
    ) -> list[list[ClassifiedSentence]]:
        """`classify_article` for many articles, batched across them: the one article path that
        the command line, the web page and Ray all use. An article with no sentences gives []."""
        segmented = [segment(text) for text in texts]
        sentences = [s.text for article in segmented for s in article]
        contexts = [c for article in segmented if article for c in [None, *(s.text for s in article[:-1])]]
        predictions = iter(self.predict(sentences, contexts, batch_size, on_batch) if sentences else ())
        out = []
        for text, article in zip(texts, segmented, strict=True):
            article_lang = detect_language(text) if article else None
            article_lang = article_lang if article_lang and is_supported(article_lang) else None
            out.append(
                [
                    ClassifiedSentence(s.text, s.start, s.end, detect_language(s.text, article_lang), p.label, p.scores)
                    for s, p in zip(article, predictions, strict=False)
                ]
            )
        return out
