"""Public inference API: `FramingClassifier.from_pretrained(path).predict(sentences)`."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from framing.errors import FramingError
from framing.model.features import Encoded, encode_documents, pad_batch_numpy, source_char_span
from framing.model.folder import ModelFolderError, check_model_folder, inference_tokenizer, load_adapter
from framing.model.labels import LABELS, SOURCE_TYPES, SOURCED_LABELS
from framing.model.langid import detect_language, is_supported
from framing.model.segment import segment
from framing.model.settings import ModelSettings

if TYPE_CHECKING:
    from framing.model.modeling import E5ForFramingClassification


#: The source outputs of a prediction, in output-row order; None where the label has no source
#: (vague_attribution is given on every sentence), and all None for a model without source heads.
SOURCE_FIELDS: tuple[str, ...] = (
    "source",
    "source_start",
    "source_end",
    "source_type",
    "source_type_p",
    "source_named",
    "vague_attribution",
)
#: A predicted source span is at most this many tokens long.
MAX_SOURCE_TOKENS = 40


@dataclass(frozen=True)
class Prediction:
    label: str
    scores: dict[str, float]
    #: the source's words, a substring of the sentence, and their character offsets in it
    source: str | None = None
    source_start: int | None = None
    source_end: int | None = None
    #: one of SOURCE_TYPES (expert_analyst for every analyst_claim), and its probability given the label
    source_type: str | None = None
    source_type_p: float | None = None
    #: a named person or organisation, not a generic one ("analysts", "sources", "مصادر")
    source_named: bool | None = None
    #: authority borrowed without a checkable source ("the data reveals", "يرى مراقبون")
    vague_attribution: bool | None = None

    def source_fields(self) -> dict:
        return {name: getattr(self, name) for name in SOURCE_FIELDS}


@dataclass(frozen=True)
class ClassifiedSentence:
    text: str
    start: int
    end: int
    lang: str
    label: str
    scores: dict[str, float]
    source: str | None = None
    #: offsets into the sentence
    source_start: int | None = None
    source_end: int | None = None
    source_type: str | None = None
    source_type_p: float | None = None
    source_named: bool | None = None
    vague_attribution: bool | None = None

    def to_dict(self) -> dict:
        """The sentence's fields, with the source's offsets into the article added
        (`source_article_start`/`source_article_end`)."""
        out = asdict(self)
        start, end = self.source_start, self.source_end
        out["source_article_start"] = self.start + start if start is not None else None
        out["source_article_end"] = self.start + end if end is not None else None
        return out


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

    @property
    def source_heads(self) -> bool:
        """Whether the model gives sources (span, type, named) and the vague flag."""
        if self.onnx is not None:
            return self.onnx.head.source is not None
        return bool(getattr(self.model, "source_heads", False))

    def _encode(self, documents: Sequence[Sequence[str]], first_targets: Sequence[int] | None) -> Encoded:
        return encode_documents(self.tokenizer, documents, self.settings, first_targets)

    def _outputs(self, encoded: Encoded, batch_size: int = 32, on_batch: Callable[[int], None] | None = None) -> dict[str, Any]:
        """Every head's raw output per target of `encoded` (label logits before temperature), and
        `span`: each target's start/end logits over its own tokens (a list of arrays)."""
        windows, targets = encoded.windows, encoded.targets
        by_window: list[list[int]] = [[] for _ in windows]
        for t, target in enumerate(targets):
            by_window[target.window].append(t)
        # Length-sorted batches pad far less, which roughly doubles CPU throughput.
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]["input_ids"]))
        arrays: dict[str, np.ndarray] = {"logits": np.zeros((len(targets), len(LABELS)), dtype=np.float32)}
        spans: list[np.ndarray] | None = None
        if self.source_heads:
            arrays["source_type_logits"] = np.zeros((len(targets), len(SOURCE_TYPES)), dtype=np.float32)
            arrays["flag_logits"] = np.zeros((len(targets), 2), dtype=np.float32)
            spans = [np.zeros((0, 2), dtype=np.float32)] * len(targets)
        pad_id = self.tokenizer.pad_token_id
        run: Callable[[dict[str, np.ndarray], np.ndarray], dict[str, np.ndarray]]
        mode: contextlib.AbstractContextManager
        if self.onnx is not None:
            onnx = self.onnx
            run, mode = onnx.outputs, contextlib.nullcontext()
        else:
            import torch

            model = self.model
            assert model is not None  # no ONNX runner means a torch model (checked in __init__)

            def run(batch: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
                tensors = {k: torch.from_numpy(v) for k, v in batch.items()}
                result = model(**tensors, targets=torch.from_numpy(rows))
                return {k: v.numpy() for k, v in result.items() if k != "loss" and v is not None}

            mode = torch.inference_mode()
        with mode:
            for begin in range(0, len(order), batch_size):
                chunk = order[begin : begin + batch_size]
                batch = pad_batch_numpy([windows[i] for i in chunk], pad_id)
                ids = [t for i in chunk for t in by_window[i]]
                rows = np.array(
                    [(row, *targets[t].pool) for row, i in enumerate(chunk) for t in by_window[i]], dtype=np.int64
                ).reshape(-1, 3)
                result = run(batch, rows)
                for key, values in arrays.items():
                    values[ids] = result[key]
                if spans is not None:
                    for row, i in enumerate(chunk):
                        for t in by_window[i]:
                            first, last = targets[t].tokens
                            spans[t] = result["span_logits"][row, first:last]
                if on_batch:
                    on_batch(len(ids))
        return {**arrays, "span": spans} if spans is not None else dict(arrays)

    def predict_logits(
        self,
        sentences: Sequence[str],
        contexts: Sequence[str | None] | None = None,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Raw logits (before temperature), one row per sentence, columns in `LABELS` order."""
        documents, first = self._pairs(sentences, contexts)
        return self._outputs(self._encode(documents, first), batch_size, on_batch)["logits"]

    @staticmethod
    def _pairs(sentences: Sequence[str], contexts: Sequence[str | None] | None) -> tuple[list[list[str]], list[int]]:
        if isinstance(sentences, str):
            # A str is a Sequence of characters: one sentence, not one prediction per character.
            sentences = [sentences]
            contexts = [contexts] if isinstance(contexts, str) else contexts
        if contexts is None:
            contexts = [None] * len(sentences)
        if len(contexts) != len(sentences):
            raise ValueError("contexts must be as many as sentences")
        documents = [[c, s] if c else [s] for s, c in zip(sentences, contexts, strict=True)]
        return documents, [len(d) - 1 for d in documents]

    def _probabilities(self, logits: np.ndarray) -> np.ndarray:
        scaled = logits / self.temperature
        exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def predict_proba(
        self,
        sentences: Sequence[str],
        contexts: Sequence[str | None] | None = None,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Probabilities, one row per sentence, columns in `LABELS` order (temperature-scaled)."""
        return self._probabilities(self.predict_logits(sentences, contexts, batch_size, on_batch))

    def predict(
        self,
        sentences: Sequence[str],
        contexts: Sequence[str | None] | None = None,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[Prediction]:
        """A label, a probability per label and the source fields for each sentence.
        `contexts[i]`, when given, is the sentence before `sentences[i]` in the same article."""
        documents, first = self._pairs(sentences, contexts)
        return [p for doc in self._predict_documents(documents, first, batch_size, on_batch) for p in doc]

    def predict_documents(
        self,
        documents: Sequence[Sequence[str]],
        first_targets: Sequence[int] | None = None,
        batch_size: int = 32,
        on_batch: Callable[[int], None] | None = None,
    ) -> list[list[Prediction]]:
        """Predictions for every sentence of each document (consecutive sentences of one article),
        each read in its article as the model's input mode reads it; the sentences of document
        `d` before `first_targets[d]` are context only and get no prediction."""
        return self._predict_documents(documents, first_targets, batch_size, on_batch)

    def _predict_documents(self, documents, first_targets, batch_size, on_batch) -> list[list[Prediction]]:
        encoded = self._encode(documents, first_targets)
        outputs = self._outputs(encoded, batch_size, on_batch)
        probs = self._probabilities(outputs["logits"])
        out: list[list[Prediction]] = [[] for _ in documents]
        for t, target in enumerate(encoded.targets):
            label = LABELS[int(probs[t].argmax())]
            scores = {name: float(p) for name, p in zip(LABELS, probs[t], strict=True)}
            extra: dict = {}
            if "span" in outputs:
                extra = decode_source(
                    label,
                    documents[target.document][target.index],
                    target,
                    outputs["span"][t],
                    outputs["source_type_logits"][t],
                    outputs["flag_logits"][t],
                )
            out[target.document].append(Prediction(label, scores, **extra))
        return out

    def classify_article(self, text: str, batch_size: int = 32) -> list[ClassifiedSentence]:
        """Segment an article and label each sentence, each read in its article."""
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
        predictions = self.predict_documents([[s.text for s in article] for article in segmented], None, batch_size, on_batch)
        out = []
        for text, article, predicted in zip(texts, segmented, predictions, strict=True):
            article_lang = detect_language(text) if article else None
            article_lang = article_lang if article_lang and is_supported(article_lang) else None
            out.append(
                [
                    ClassifiedSentence(
                        s.text, s.start, s.end, detect_language(s.text, article_lang), p.label, p.scores, **p.source_fields()
                    )
                    for s, p in zip(article, predicted, strict=True)
                ]
            )
        return out


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def best_span(start_logits: np.ndarray, end_logits: np.ndarray, max_tokens: int = MAX_SOURCE_TOKENS) -> tuple[int, int]:
    """(first, last) token maximising start + end logits, first <= last < first + max_tokens."""
    n = len(start_logits)
    scores = start_logits[:, None] + end_logits[None, :]
    valid = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), k=max_tokens)
    scores = np.where(valid, scores, -np.inf)
    first, last = np.unravel_index(int(scores.argmax()), scores.shape)
    return int(first), int(last)


def decode_source(label: str, sentence: str, target, span: np.ndarray, type_logits: np.ndarray, flag_logits: np.ndarray) -> dict:
    """The source fields of one sentence from its heads' outputs. The type follows the label
    (guideline 5.2: every analyst_claim source is expert_analyst, and no other), with its
    probability renormalised over the types the label allows."""
    out: dict = {"vague_attribution": _sigmoid(flag_logits[1]) >= 0.5}
    if label not in SOURCED_LABELS:
        return out
    if len(span):
        first, last = best_span(span[:, 0], span[:, 1])
        start, end = source_char_span(target, sentence, target.tokens[0] + first, target.tokens[0] + last)
        if end > start:
            out.update(source=sentence[start:end], source_start=start, source_end=end)
    analyst = SOURCE_TYPES.index("expert_analyst")
    allowed = np.array([(i == analyst) == (label == "analyst_claim") for i in range(len(SOURCE_TYPES))])
    logits = np.where(allowed, type_logits, -np.inf)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    best = int(probs.argmax())
    out.update(source_type=SOURCE_TYPES[best], source_type_p=float(probs[best]), source_named=_sigmoid(flag_logits[0]) >= 0.5)
    return out
