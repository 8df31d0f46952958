"""`framing serve`: a local web page and JSON API to read articles by their framing.

The page is for editors who never open a terminal, so everything a browser needs is served from
`framing/web/static/`; nothing is loaded from the network, and a Content-Security-Policy header
makes the browser enforce that. The server never fetches a URL and writes uploads only into a
temporary folder that is removed when the request ends.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import aclosing
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from framing.batch.classify import classify_article_rows, classify_sentence_rows
from framing.batch.inputs import BadRow, InputError, InputRow, iter_jsonl, read_document
from framing.limits import RowError, loads_limited
from framing.model.classifier import FramingClassifier
from framing.model.labels import DEFINITIONS, LABELS
from framing.outlets.analysis import OutletsSettings

#: One source for the outlet thresholds: the analysis's own defaults.
_OUTLET_DEFAULTS = OutletsSettings()

STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_MAX_BYTES = 2 * 1024 * 1024
#: Work limits per request: bytes alone did not bound work (a 2 MB paste held the model for
#: 147 s). About 20 s of model time on 2 cores; a larger job belongs to `framing classify`.
DEFAULT_MAX_SENTENCES = 5000
#: Seconds a request may take, waiting for its turns included, before it is answered 503.
DEFAULT_TIME_LIMIT = 60.0
#: Requests admitted at once (running or waiting for the model); more are answered 503 at once,
#: so a burst cannot pile up memory and threads.
DEFAULT_QUEUE = 16
#: Sentences per turn at the model: requests take turns in arrival order, so a small request
#: waits for one turn of a big one, not for all of it.
TURN_SENTENCES = 32
#: Outlets compared per language on the web; pairwise tests grow with the square of it.
MAX_WEB_OUTLETS = 30
#: Multipart framing around an upload (boundaries, headers, the other form fields).
_FORM_OVERHEAD = 64 * 1024
#: Malformed JSONL lines named in one error message; past that the count is enough to act on.
_MAX_LINES_NAMED = 10
SUFFIXES = {".txt": "text", ".text": "text", ".html": "html", ".htm": "html", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: Fields that describe a single sentence, so they never become an article's shared metadata.
_SENTENCE_FIELDS = {"id", "text", "label", "scores", "lang", "source", "source_type", "sentence", "start", "end"}

# Strict, and set on every response: the page must not reach any host but this server. The
# outlet report is the one exception (see `_REPORT_CSP`).
_PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# The outlet report is self-contained HTML with inline CSS/JS/images; inline is allowed, the network is not.
_REPORT_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "font-src data:; base-uri 'none'; form-action 'none'"
)

Label = Literal[LABELS]  # type: ignore[valid-type]


class LabelInfo(BaseModel):
    name: Label
    definition: str


class InfoResponse(BaseModel):
    labels: list[LabelInfo]
    max_bytes: int = Field(description="largest accepted input, in bytes (413 above it)")
    model: str | None = Field(description="the model folder the server loaded")


class Span(BaseModel):
    start: int
    end: int


class SentenceOut(BaseModel):
    index: int = Field(description="position of the sentence in its article, from 0")
    start: int = Field(description="character offset of the sentence in the article text (Unicode code points)")
    end: int
    text: str
    lang: str = Field(description="ar, en, another ISO 639-1 code, or und (undetermined)")
    label: Label
    scores: dict[str, float] = Field(description="probability per label")
    source: str | None = Field(None, description="the predicted source's words (null where the label has no source)")
    source_start: int | None = Field(None, description="offset of the predicted source in `text`")
    source_end: int | None = None
    source_type: str | None = Field(None, description="the predicted source's type (one of the corpus's nine)")
    source_type_p: float | None = Field(None, description="its probability, given the label")
    source_named: bool | None = Field(None, description="a named person or organisation, not a generic one")
    vague_attribution: bool | None = Field(None, description="authority borrowed without a checkable source")
    given_source: str | None = Field(None, description="the source's words, when the uploaded row gives them")
    source_spans: list[Span] = Field(
        default_factory=list,
        description="where the source is in the sentence (offsets into `text`): the predicted source, or, from a "
        "model without source heads, the uploaded row's `source` strings",
    )
    given_label: str | None = Field(None, description="the label the uploaded row already had, if any")
    line: int | None = Field(None, description="input line (JSONL sentence rows)")
    meta: dict[str, Any] = Field(default_factory=dict, description="the uploaded row's other fields (JSONL sentence rows)")


class ArticleOut(BaseModel):
    id: str
    line: int = Field(description="input line of the article (1 for pasted text and .txt/.html files)")
    meta: dict[str, Any] = Field(default_factory=dict, description="the article's other fields (outlet, date, ...)")
    text: str = Field(description="the article text that sentence offsets refer to")
    sentences: list[SentenceOut]
    counts: dict[str, int]
    shares: dict[str, float]


class SkippedRow(BaseModel):
    line: int
    error: str


class ClassifyResponse(BaseModel):
    name: str = Field(description="the uploaded file's name, 'pasted text', or 'sentences' (a JSON body)")
    kind: Literal["text", "html", "jsonl", "json"]
    mode: Literal["articles", "sentences"] = Field(description="what each input row was read as")
    articles: list[ArticleOut]
    skipped: list[SkippedRow] = Field(description="rows read but with nothing to classify (empty text)")
    n_sentences: int
    counts: dict[str, int]
    shares: dict[str, float]


class OutletsResponse(BaseModel):
    name: str
    report: dict[str, Any] = Field(description="the outlet report, as `framing outlets` computes it")


class ErrorResponse(BaseModel):
    detail: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "unreadable input: invalid UTF-8, malformed JSONL lines, no text"},
    403: {"model": ErrorResponse, "description": "a cross-origin form post (another site's page), refused"},
    413: {"model": ErrorResponse, "description": "input larger than the server's limit, in bytes or in sentences"},
    415: {"model": ErrorResponse, "description": "unsupported file type"},
    422: {"model": ErrorResponse, "description": "more work than the server does per request (e.g. too many outlets)"},
    503: {"model": ErrorResponse, "description": "the server is busy, or the request ran past its time limit; retry later"},
}


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{max(1, round(n / 1024))} kB"


def _too_large(limit: int, size: int | None = None) -> HTTPException:
    got = f"The input is {_mb(size)}; " if size is not None else "The input is too large; "
    return HTTPException(413, got + f"the limit is {_mb(limit)} (start the server with a larger --max-mb to raise it).")


class BodyLimitMiddleware:
    """Refuses request bodies over `limit` bytes before they are parsed or spooled to disk."""

    def __init__(self, app, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            exc = _too_large(self.limit - _FORM_OVERHEAD, int(declared))
            await JSONResponse({"detail": exc.detail}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                # A chunked upload declares no length, so count what actually arrives.
                if received > self.limit:
                    raise _too_large(self.limit - _FORM_OVERHEAD)
            return message

        await self.app(scope, limited_receive, send)


def _label_counts(labels: Iterable[str]) -> tuple[dict[str, int], dict[str, float]]:
    counts = dict.fromkeys(LABELS, 0)
    for label in labels:
        counts[label] += 1
    total = sum(counts.values())
    return counts, {k: round(v / total, 4) if total else 0.0 for k, v in counts.items()}


def source_spans(text: str, sources: Iterable[str]) -> list[Span]:
    """Where each source string occurs in `text`: case-insensitive, any run of whitespace
    matching any other, so a source copied with different spacing is still found."""
    spans: list[tuple[int, int]] = []
    for source in sources:
        words = source.split()
        if not words:
            continue
        pattern = re.compile(r"\s+".join(map(re.escape, words)), re.IGNORECASE)
        spans += [(m.start(), m.end()) for m in pattern.finditer(text)]
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [Span(start=s, end=e) for s, e in merged]


_PREDICTED_SOURCE = ("source", "source_start", "source_end", "source_type", "source_type_p", "source_named", "vague_attribution")


def _predicted_source(result: dict, text: str, given: list[str]) -> dict[str, Any]:
    """The predicted source fields of an output row, and `source_spans`: the predicted span, or
    the given source strings' places when the model predicts none (a model without source heads)."""
    if "vague_attribution" not in result:  # no source heads: an article row's own `source` is not a prediction
        return {"source_spans": source_spans(text, given)}
    out: dict[str, Any] = {k: result.get(k) for k in _PREDICTED_SOURCE}
    has_span = result.get("source_start") is not None and result.get("source_end") is not None
    out["source_spans"] = [Span(start=result["source_start"], end=result["source_end"])] if has_span else []
    return out


def _source_strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _articles_from_article_rows(classifier, rows: list[InputRow], skipped: list[BadRow]) -> list[ArticleOut]:
    used: list[InputRow] = []

    def tracked() -> Iterable[InputRow]:
        for row in rows:
            used.append(row)
            yield row

    out = list(classify_article_rows(classifier, tracked(), skipped))
    skipped_lines = {e.line for e in skipped}
    kept = [r for r in used if r.line not in skipped_lines]
    # The classifier yields articles in input order, each starting again at sentence 0.
    groups: list[list[dict]] = []
    for row in out:
        if row["sentence"] == 0:
            groups.append([])
        groups[-1].append(row)
    articles = []
    for row, group in zip(kept, groups, strict=True):
        sources = _source_strings(row.fields.get("source"))
        sentences = [
            SentenceOut(
                index=s["sentence"],
                start=s["start"],
                end=s["end"],
                text=s["text"],
                lang=s["lang"],
                label=s["label"],
                scores=s["scores"],
                **_predicted_source(s, s["text"], sources),
            )
            for s in group
        ]
        counts, shares = _label_counts(s.label for s in sentences)
        articles.append(
            ArticleOut(
                id=str(group[0]["article"]),
                line=row.line,
                meta={k: v for k, v in row.fields.items() if k != "text"},
                text=row.fields["text"],
                sentences=sentences,
                counts=counts,
                shares=shares,
            )
        )
    return articles


def _articles_from_sentence_rows(classifier, rows: list[InputRow], skipped: list[BadRow], name: str) -> list[ArticleOut]:
    used: list[InputRow] = []

    def tracked() -> Iterable[InputRow]:
        for row in rows:
            if row.fields["text"].strip():  # the classifier skips (and records) the empty ones
                used.append(row)
            yield row

    out = list(classify_sentence_rows(classifier, tracked(), skipped))
    articles: list[ArticleOut] = []
    group: list[tuple[InputRow, dict]] = []

    def close() -> None:
        # Sentences are joined by line breaks, which the segmenter also treats as sentence ends,
        # so the article text reads as the corpus page did and offsets stay simple.
        parts, sentences, offset = [], [], 0
        for index, (row, result) in enumerate(group):
            text = row.fields["text"]
            given = row.fields.get("label")
            source = row.fields.get("source") if isinstance(row.fields.get("source"), str) else None
            sentences.append(
                SentenceOut(
                    index=index,
                    start=offset,
                    end=offset + len(text),
                    text=text,
                    lang=result["lang"],
                    label=result["label"],
                    scores=result["scores"],
                    given_source=source,
                    **_predicted_source(result, text, _source_strings(row.fields.get("source"))),
                    given_label=given if isinstance(given, str) else None,
                    line=row.line,
                    meta={k: v for k, v in row.fields.items() if k not in ("text", "lang", "label", "scores")},
                )
            )
            parts.append(text)
            offset += len(text) + 1
        first = group[0][0].fields
        shared = {
            k: v
            for k, v in first.items()
            if k not in _SENTENCE_FIELDS and k != "article" and all(r.fields.get(k) == v for r, _ in group)
        }
        counts, shares = _label_counts(s.label for s in sentences)
        article_id = first.get("article", name)
        articles.append(
            ArticleOut(
                id=str(article_id),
                line=group[0][0].line,
                meta=shared,
                text="\n".join(parts),
                sentences=sentences,
                counts=counts,
                shares=shares,
            )
        )
        group.clear()

    for row, result in zip(used, out, strict=True):
        if group and group[-1][0].fields.get("article") != row.fields.get("article"):
            close()
        group.append((row, result))
    if group:
        close()
    return articles


def _detail(message: str, tmp_path: Path, name: str) -> str:
    """InputError messages name the temporary file; name the upload instead, and spell out the line."""
    message = message.replace(str(tmp_path), name)
    # A function, not a template: a name such as "a\q.txt" is not a regex replacement string.
    return re.sub(rf"^{re.escape(name)}:(\d+): ", lambda m: f"{name}, line {m.group(1)}: ", message)


def _safe_name(filename: str | None) -> str:
    # Only the last path component, and only characters that are safe in a file name: the name
    # is used inside the temporary folder and must not be able to leave it.
    base = re.split(r"[\\/]", filename or "")[-1]
    base = re.sub(r"[^\w.\- ]", "_", base).strip(" .")
    return base[:120] or "upload.txt"


@contextlib.contextmanager
def _uploaded_file(data: bytes, name: str) -> Iterator[Path]:
    """An upload as a file inside a temporary folder that is removed afterwards; empty uploads
    are refused first."""
    if not data.strip():
        raise HTTPException(400, f"{name}: the file is empty.")
    with tempfile.TemporaryDirectory(prefix="framing-web-") as tmp:
        path = Path(tmp) / _safe_name(name)
        path.write_bytes(data)
        yield path


_URL_ONLY = re.compile(r"^\s*(https?|ftp)://\S+\s*$", re.IGNORECASE)


def _busy(detail: str, retry_after: int = 5) -> HTTPException:
    return HTTPException(503, detail, headers={"Retry-After": str(retry_after)})


class FairTurns:
    """A lock granted in arrival order. Each request holds it for one turn (a few dozen
    sentences) and queues again, so requests share the model round-robin: a big request in
    flight delays a small one by one turn, not by all of its work. Waiting ends at a deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()

    @contextlib.contextmanager
    def turn(self, deadline: float | None = None) -> Iterator[None]:
        me = object()
        with self._cond:
            self._queue.append(me)
            while self._queue[0] is not me:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    self._queue.remove(me)
                    self._cond.notify_all()
                    raise TimeoutError
                self._cond.wait(remaining)
        try:
            yield
        finally:
            with self._cond:
                self._queue.popleft()
                self._cond.notify_all()


class BudgetedClassifier:
    """The classifier as one web request sees it: a sentence budget, a deadline, and the model
    only in turns. `classify_articles` is FramingClassifier's own (segmentation, context,
    language), run over this object's `predict`."""

    classify_articles = FramingClassifier.classify_articles
    classify_article = FramingClassifier.classify_article

    def __init__(self, classifier, turns: FairTurns, max_sentences: int, time_limit: float) -> None:
        self.classifier = classifier
        self.turns = turns
        self.max_sentences = max_sentences
        self.time_limit = time_limit
        self.deadline = time.monotonic() + time_limit
        self.used = 0

    def _out_of_time(self) -> HTTPException:
        return _busy(
            f"The request ran past the server's {self.time_limit:g} s limit (the server may be busy with other "
            "requests); try again, send less text, or use `framing classify` for large inputs.",
            retry_after=10,
        )

    @property
    def source_heads(self) -> bool:
        return self.classifier.source_heads

    def _spend(self, n: int) -> None:
        self.used += n
        if self.used > self.max_sentences:
            raise HTTPException(
                413,
                f"The input has more than {self.max_sentences} sentences, the limit per request; split it, "
                "or use `framing classify` for large inputs.",
            )

    def predict_documents(
        self,
        documents: Sequence[Sequence[str]],
        first_targets: Sequence[int] | None = None,
        batch_size: int = 32,
        on_batch=None,
    ) -> list[list]:
        """`FramingClassifier.predict_documents` within the budget, in turns of at most
        TURN_SENTENCES sentences: a long article is cut into pieces, each starting with the
        sentence before it as context, so a big request never holds the model for long."""
        firsts = list(first_targets) if first_targets is not None else [0] * len(documents)
        self._spend(sum(len(d) - f for d, f in zip(documents, firsts, strict=True)))
        pieces: list[tuple[int, list[str], int]] = []  # (document, sentences, first target)
        for d, (document, first) in enumerate(zip(documents, firsts, strict=True)):
            for begin in range(first, len(document), TURN_SENTENCES):
                start = max(0, begin - 1)
                pieces.append((d, list(document[start : begin + TURN_SENTENCES]), begin - start))
        out: list[list] = [[] for _ in documents]
        for d, sentences, first in pieces:
            if time.monotonic() > self.deadline:
                raise self._out_of_time()
            try:
                with self.turns.turn(self.deadline):
                    out[d] += self.classifier.predict_documents([sentences], [first], batch_size)[0]
            except TimeoutError:
                raise self._out_of_time() from None
            if on_batch:
                on_batch(len(sentences) - first)
        return out

    def predict(
        self,
        sentences: Sequence[str],
        contexts: Sequence[str | None] | None = None,
        batch_size: int = 32,
        on_batch=None,
    ) -> list:
        self._spend(len(sentences))
        contexts = list(contexts) if contexts is not None else [None] * len(sentences)
        out = []
        for begin in range(0, len(sentences), TURN_SENTENCES):
            end = begin + TURN_SENTENCES
            if time.monotonic() > self.deadline:
                raise self._out_of_time()
            try:
                with self.turns.turn(self.deadline):
                    out += self.classifier.predict(sentences[begin:end], contexts[begin:end], batch_size)
            except TimeoutError:
                raise self._out_of_time() from None
            if on_batch:
                on_batch(len(sentences[begin:end]))
        return out


class WebService:
    """The loaded model plus the request handling that does not depend on FastAPI."""

    def __init__(
        self,
        classifier,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_sentences: int = DEFAULT_MAX_SENTENCES,
        time_limit: float = DEFAULT_TIME_LIMIT,
        queue: int = DEFAULT_QUEUE,
    ) -> None:
        self.classifier = classifier
        self.max_bytes = max_bytes
        self.max_sentences = max_sentences
        self.time_limit = time_limit
        # Hugging Face fast tokenizers are not safe to call from several threads at once, and on
        # a 2-core machine parallel model calls would only compete: one turn at the model at a
        # time, granted in arrival order.
        self.turns = FairTurns()
        self._slots = threading.BoundedSemaphore(queue)
        # The outlet report runs in a child process that is killed at the time limit; one at a
        # time, as resampling is as CPU-hungry as the model.
        self._outlet_slot = threading.BoundedSemaphore(1)

    @contextlib.contextmanager
    def admitted(self) -> Iterator[None]:
        """A place in the bounded queue, or 503 at once."""
        if not self._slots.acquire(blocking=False):
            raise _busy("The server is busy with other requests; try again in a few seconds.")
        try:
            yield
        finally:
            self._slots.release()

    def budgeted(self) -> BudgetedClassifier:
        return BudgetedClassifier(self.classifier, self.turns, self.max_sentences, self.time_limit)

    def classify_bytes(self, data: bytes, name: str, mode: str = "auto") -> ClassifyResponse:
        suffix = Path(name).suffix.lower()
        kind = SUFFIXES.get(suffix)
        if kind is None:
            raise HTTPException(
                415, f"{name}: unsupported file type '{suffix or '(none)'}'; upload a .txt, .html or .jsonl file."
            )
        if len(data) > self.max_bytes:
            raise _too_large(self.max_bytes, len(data))
        with _uploaded_file(data, name) as path:
            try:
                if kind == "jsonl":
                    return self._classify_jsonl(path, name, mode)
                row = read_document(path)
            except InputError as exc:
                raise HTTPException(400, _detail(str(exc), path, name)) from None
        text = row.fields["text"]
        if kind == "text" and _URL_ONLY.match(text):
            raise HTTPException(400, _URL_REFUSAL)
        row = InputRow(name, 1, {"id": Path(name).stem or name, "text": text})
        return self._respond(name, kind, "articles", [row])

    def classify_text(self, text: str) -> ClassifyResponse:
        if len(text.encode("utf-8")) > self.max_bytes:
            raise _too_large(self.max_bytes, len(text.encode("utf-8")))
        if not text.strip():
            raise HTTPException(400, "Nothing to classify: paste an article's text or choose a file.")
        if _URL_ONLY.match(text):
            raise HTTPException(400, _URL_REFUSAL)
        return self._respond("pasted text", "text", "articles", [InputRow("pasted text", 1, {"id": "pasted text", "text": text})])

    def classify_sentences(self, sentences: list[InputRow]) -> ClassifyResponse:
        """Sentence rows from a JSON body; rows that share an `article` read each other as context."""
        size = sum(len(row.fields["text"].encode("utf-8")) for row in sentences)
        if size > self.max_bytes:
            raise _too_large(self.max_bytes, size)
        return self._respond("sentences", "json", "sentences", sentences)

    def _classify_jsonl(self, path: Path, name: str, mode: str) -> ClassifyResponse:
        errors: list[BadRow] = []
        rows = list(iter_jsonl(path, errors))
        if errors:
            named = "; ".join(f"line {e.line}: {e.reason}" for e in errors[:_MAX_LINES_NAMED])
            more = f"; and {len(errors) - _MAX_LINES_NAMED} more" if len(errors) > _MAX_LINES_NAMED else ""
            raise HTTPException(400, f"{name}: {len(errors)} line(s) cannot be read: {named}{more}. Fix them and upload again.")
        if not rows:
            raise HTTPException(400, f"{name}: no rows; expected one JSON object per line with a 'text' field.")
        if mode == "auto":
            # Rows that name their article are sentences of it (the corpus and `framing classify`
            # output look like that); rows without are whole articles, as `framing classify` reads them.
            mode = "sentences" if any("article" in r.fields for r in rows) else "articles"
        return self._respond(name, "jsonl", mode, rows)

    def _respond(self, name: str, kind: str, mode: str, rows: list[InputRow]) -> ClassifyResponse:
        skipped: list[BadRow] = []
        classifier = self.budgeted()
        if mode == "sentences":
            articles = _articles_from_sentence_rows(classifier, rows, skipped, name)
        else:
            articles = _articles_from_article_rows(classifier, rows, skipped)
        if not articles:
            reasons = "; ".join(f"line {e.line}: {e.reason}" for e in skipped[:_MAX_LINES_NAMED])
            raise HTTPException(400, f"{name}: nothing to classify ({reasons}).")
        counts, shares = _label_counts(s.label for a in articles for s in a.sentences)
        return ClassifyResponse(
            name=name,
            kind=kind,  # type: ignore[arg-type]
            mode=mode,  # type: ignore[arg-type]
            articles=articles,
            skipped=[SkippedRow(line=e.line, error=e.reason) for e in skipped],
            n_sentences=sum(counts.values()),
            counts=counts,
            shares=shares,
        )


_URL_REFUSAL = (
    "That is a web address: framing does not fetch pages from the internet. Open the page in your browser, "
    "save it (Ctrl+S / Cmd+S, 'Web page, HTML only') and upload the saved .html file, or paste the article's text."
)


async def _read_json_body(request: Request) -> str | list[InputRow]:
    """`{"text": ...}` (an article) or `{"sentences": [...]}` (strings, or objects with `text` and
    any other fields, `article` grouping them), for clients that speak JSON rather than forms."""
    import json

    try:
        body = loads_limited(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"The JSON body is not valid JSON ({getattr(exc, 'msg', None) or exc.reason}).") from None
    except RowError as exc:
        raise HTTPException(400, f"The JSON body is refused: {exc}.") from None
    if not isinstance(body, dict) or len(set(body) & {"text", "sentences"}) != 1 or set(body) - {"text", "sentences"}:
        raise HTTPException(400, 'Send a JSON object with either "text" (an article) or "sentences" (a list), and nothing else.')
    if "text" in body:
        if not isinstance(body["text"], str):
            raise HTTPException(400, '"text" must be a string.')
        return body["text"]
    sentences = body["sentences"]
    if not isinstance(sentences, list) or not sentences:
        raise HTTPException(400, '"sentences" must be a non-empty list.')
    rows = []
    for index, item in enumerate(sentences):
        fields = {"text": item} if isinstance(item, str) else item
        if not isinstance(fields, dict) or not isinstance(fields.get("text"), str):
            raise HTTPException(400, f'sentences[{index}]: expected a string or an object with a string "text".')
        rows.append(InputRow("sentences", index + 1, fields))
    return rows


class _StrictMultiPartParser(MultiPartParser):
    """Starlette's parser decodes a text field that is not UTF-8 as Latin-1, so garbled Arabic
    was classified with a 200; docs/web.md promises a 400 naming the field."""

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MultiPartException(
                    f"The form field '{part.field_name}' is not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                    "send text as UTF-8."
                ) from None
        super().on_part_end()


async def _parse_form(request: Request, max_part_size: int) -> FormData:
    """The request's form, with every text field strictly UTF-8 (400 otherwise). Stored on the
    request so that Starlette closes its uploaded files when the request ends."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        try:
            async with aclosing(request.stream()) as stream:
                form = await _StrictMultiPartParser(
                    request.headers, stream, max_files=1, max_fields=8, max_part_size=max_part_size
                ).parse()
        except MultiPartException as exc:
            raise HTTPException(400, exc.message) from None
    else:
        body = await request.body()
        try:
            items = parse_qsl(body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=8)
        except UnicodeDecodeError as exc:
            raise HTTPException(400, f"The form is not valid UTF-8 ({exc.reason}); send text as UTF-8.") from None
        except ValueError as exc:
            raise HTTPException(400, f"Malformed form ({exc}).") from None
        form = FormData(items)
    request._form = form  # Starlette's Request.close() closes the form's files
    return form


async def _read_form(request: Request, service: WebService) -> tuple[str | None, UploadFile | None, str]:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise HTTPException(
            415,
            "Send a form (multipart/form-data) with a 'text' field or a 'file' upload, e.g. curl -F file=@article.txt, "
            'or JSON: {"text": ...} or {"sentences": [...]}.',
        )
    # The middleware already caps the whole body; a text field may use all of it, and one just
    # over the limit is then refused with a 413 that says so, not the parser's generic 400.
    form = await _parse_form(request, service.max_bytes + _FORM_OVERHEAD)
    text = form.get("text")
    upload = form.get("file")
    mode = form.get("mode") or "auto"
    if isinstance(text, UploadFile) or (upload is not None and not isinstance(upload, UploadFile)):
        raise HTTPException(400, "'text' must be a text field and 'file' a file upload.")
    if mode not in ("auto", "articles", "sentences"):
        raise HTTPException(400, f"mode must be auto, articles or sentences, not {mode!r}.")
    if isinstance(upload, UploadFile) and not upload.filename:
        upload = None  # a browser form sends an empty file part when no file was chosen
    return (text if isinstance(text, str) else None), upload, str(mode)


async def _read_upload(upload: UploadFile, service: WebService) -> bytes:
    data = await upload.read(service.max_bytes + 1)
    if len(data) > service.max_bytes:
        raise _too_large(service.max_bytes)
    return data


def _form_body(fields: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """OpenAPI description of a multipart form; the endpoints parse it themselves to control limits and errors."""
    schema: dict[str, Any] = {"type": "object", "properties": fields}
    if required:
        schema["required"] = required
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}


_CLASSIFY_JSON = {
    "schema": {
        "type": "object",
        "properties": {
            "text": {"type": "string", "description": "an article's text (give this or `sentences`)"},
            "sentences": {
                "type": "array",
                "items": {"oneOf": [{"type": "string"}, {"type": "object", "properties": {"text": {"type": "string"}}}]},
                "description": "sentences, as strings or objects with `text` (and `article`, which gives context)",
            },
        },
    }
}
_CLASSIFY_FORM = _form_body(
    {
        "text": {"type": "string", "description": "an article's text (give this or `file`)"},
        "file": {"type": "string", "format": "binary", "description": "a .txt, .html or .jsonl file"},
        "mode": {
            "type": "string",
            "enum": ["auto", "articles", "sentences"],
            "default": "auto",
            "description": "JSONL only: each row is an article, or a sentence grouped by its `article` field "
            "(auto: sentences when rows have an `article` field)",
        },
    }
)
_CLASSIFY_FORM["requestBody"]["content"]["application/json"] = _CLASSIFY_JSON
_OUTLETS_FORM = _form_body(
    {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "classified sentence JSONL with `outlet`, `article` and `label` (`framing classify -o` output)",
        },
        "stratify": {"type": "string", "description": "compare outlets within strata: `topic`, `month` or another field"},
        "min_articles": {
            "type": "integer",
            "default": _OUTLET_DEFAULTS.min_articles,
            "description": "fewer articles: flagged, not ranked or tested",
        },
        "min_sentences": {
            "type": "integer",
            "default": _OUTLET_DEFAULTS.min_sentences,
            "description": "fewer sentences: flagged, not ranked or tested",
        },
    },
    ["file"],
)


def _outlet_settings(form_values: dict[str, str]) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    for key in ("min_articles", "min_sentences"):
        value = (form_values.get(key) or "").strip()
        if value:
            if not value.isdigit():
                raise HTTPException(400, f"{key} must be a whole number, not {value!r}.")
            settings[key] = int(value)
    stratify = (form_values.get("stratify") or "").strip()
    if stratify:
        settings["stratify"] = stratify
    return settings


def outlet_report(
    data: bytes, name: str, settings: dict[str, Any], model_path: str | None = None, max_outlets: int | None = None
) -> dict[str, Any]:
    """`framing outlets`' analysis of an uploaded classified JSONL file, as JSON-ready data; shares
    are also corrected with the confusion file of the served model, when it ships one.
    `max_outlets` refuses (422) more eligible outlets per language than that."""
    from framing.errors import FramingError
    from framing.outlets.analysis import OutletsSettings, analyse, load_articles
    from framing.outlets.quantify import rates_for_rows

    with _uploaded_file(data, name) as path:
        try:
            articles = load_articles([path], None, settings.get("stratify"))
            outlet_settings = OutletsSettings(**settings)
            if max_outlets is not None:
                _check_outlet_budget(articles, outlet_settings, max_outlets)
            made_by = {a.model_sha256 for a in articles if a.model_sha256}
            calibration, why_not = rates_for_rows(Path(model_path) if model_path else None, made_by)
            report = analyse(articles, outlet_settings, calibration, why_not)
        except FramingError as exc:
            raise HTTPException(400, _detail(str(exc), path, name)) from None
    return {"inputs": [name], **report}


def _check_outlet_budget(articles, settings, max_outlets: int) -> None:
    """Pairwise tests (and the permutations each needs) grow with the square of the outlets
    compared: 200 outlets at low thresholds ran past 60 s. Refuse before resampling starts."""
    from collections import Counter

    n_articles: Counter = Counter()
    n_sentences: Counter = Counter()
    for article in articles:
        n_articles[article.lang, article.outlet] += 1
        n_sentences[article.lang, article.outlet] += int(article.counts.sum())
    eligible: Counter = Counter(
        lang
        for (lang, outlet), n in n_articles.items()
        if n >= settings.min_articles and n_sentences[lang, outlet] >= settings.min_sentences
    )
    for lang, n in sorted(eligible.items()):
        if n > max_outlets:
            raise HTTPException(
                422,
                f"{n} outlets in '{lang}' qualify for comparison at these thresholds; the web page compares at most "
                f"{max_outlets}. Raise min_articles or min_sentences, or run `framing outlets` on the command line.",
            )


def _outlet_child(conn, data: bytes, name: str, settings: dict[str, Any], max_outlets: int, model_path: str | None) -> None:
    """The outlet report in a child process, its answer sent back as plain data."""
    try:
        conn.send(("ok", outlet_report(data, name, settings, model_path, max_outlets)))
    except HTTPException as exc:
        conn.send(("http", exc.status_code, exc.detail))
    except Exception as exc:  # the parent answers 500 with the type; the child's stderr has the traceback
        conn.send(("crash", type(exc).__name__))
        raise
    finally:
        conn.close()


_OUTLET_CONTEXT = multiprocessing.get_context("forkserver")
# Forked from a server that has already imported the analysis: a child starts in milliseconds.
_OUTLET_CONTEXT.set_forkserver_preload(["framing.web.app", "framing.outlets.analysis"])


def outlet_report_limited(
    data: bytes, name: str, settings: dict[str, Any], time_limit: float, model_path: str | None = None
) -> dict[str, Any]:
    """`outlet_report` in a child process that is killed at `time_limit` seconds (503): a thread
    cannot be stopped, and a runaway resampling would hold a core after its request is gone."""
    receive, send = _OUTLET_CONTEXT.Pipe(duplex=False)
    child = _OUTLET_CONTEXT.Process(
        target=_outlet_child, args=(send, data, name, settings, MAX_WEB_OUTLETS, model_path), daemon=True
    )
    child.start()
    send.close()
    try:
        if not receive.poll(time_limit):
            raise _busy(
                f"The outlet report ran past the server's {time_limit:g} s limit; raise min_articles or "
                "min_sentences, or run `framing outlets` on the command line.",
                retry_after=10,
            )
        try:
            answer = receive.recv()
        except EOFError:
            answer = ("crash", f"exit code {child.exitcode}")
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
    if answer[0] == "ok":
        return answer[1]
    if answer[0] == "http":
        raise HTTPException(answer[1], answer[2])
    raise RuntimeError(f"outlet report failed in its worker ({answer[1]})")


def _back_link(html: str) -> str:
    """The report is a page of its own; give editors a way back to the upload form."""
    link = (
        '<p style="font:14px system-ui,sans-serif;margin:0 0 1em"><a href="/outlets">&larr; framing: '
        'report another file</a> &middot; <a href="/">read an article</a></p>'
    )
    at = html.find("<body>")
    return html if at < 0 else html[: at + 6] + link + html[at + 6 :]


def create_app(
    classifier_or_path: Any,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_sentences: int = DEFAULT_MAX_SENTENCES,
    time_limit: float = DEFAULT_TIME_LIMIT,
    queue: int = DEFAULT_QUEUE,
    allowed_hosts: Iterable[str] | None = None,
    trust: bool = False,
) -> FastAPI:
    """The web app around one loaded classifier. Give a `FramingClassifier` or a model folder;
    a folder is loaded here, once, before the server accepts requests.

    `max_sentences` (413 above it) and `time_limit` (503 past it) bound each request's work;
    `queue` requests are admitted at once (503 beyond). `allowed_hosts`, when given, are the
    only Host header names answered (a DNS-rebinding page names its own host); cross-origin
    POSTs are always refused."""
    model_path: str | None = None
    if isinstance(classifier_or_path, str | Path):
        model_path = str(classifier_or_path)
        classifier = FramingClassifier.from_pretrained(classifier_or_path, trust=trust)
    else:
        classifier = classifier_or_path
        model_path = str(classifier.path) if getattr(classifier, "path", None) else None
    service = WebService(classifier, max_bytes, max_sentences, time_limit, queue)
    hosts = {h.lower().strip("[]") for h in allowed_hosts} if allowed_hosts is not None else None

    app = FastAPI(
        title="framing",
        summary="Label each sentence of Arabic and English news by how it is sourced.",
        version="0.1.0",
        # FastAPI's /docs and /redoc pages load their scripts from a CDN; the schema is at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = service
    app.add_middleware(BodyLimitMiddleware, limit=max_bytes + _FORM_OVERHEAD)

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        refusal = _refuse_foreign(request, hosts)
        response = refusal if refusal is not None else await call_next(request)
        response.headers.setdefault("Content-Security-Policy", _PAGE_CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        # Never a referrer to another host; and unlike "no-referrer", under which browsers send
        # `Origin: null` with the page's own form posts, same-origin posts keep their Origin, so
        # the cross-origin check can refuse "null" (a sandboxed frame elsewhere sends it).
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors())
        return JSONResponse({"detail": f"Invalid request: {problems}"}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # The traceback goes to the server log (uvicorn prints it); the page gets a sentence.
        return JSONResponse({"detail": f"Internal error ({type(exc).__name__}); the server log has the details."}, 500)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.api_route("/outlets", methods=["GET", "HEAD"], include_in_schema=False)
    async def outlets_page() -> FileResponse:
        return FileResponse(STATIC_DIR / "outlets.html", media_type="text/html")

    @app.get("/api/info", response_model=InfoResponse, summary="Labels, their definitions, and the input limit")
    async def info() -> InfoResponse:
        return InfoResponse(
            labels=[LabelInfo(name=name, definition=DEFINITIONS[name]) for name in LABELS],
            max_bytes=service.max_bytes,
            model=model_path,
        )

    @app.post(
        "/api/classify",
        response_model=ClassifyResponse,
        responses=_ERRORS,
        summary="Label every sentence of pasted text or an uploaded .txt, .html or .jsonl file",
        openapi_extra=_CLASSIFY_FORM,
    )
    async def classify(request: Request) -> ClassifyResponse:
        with service.admitted():
            if request.headers.get("content-type", "").startswith("application/json"):
                body = await _read_json_body(request)
                if isinstance(body, str):
                    return await run_in_threadpool(service.classify_text, body)
                return await run_in_threadpool(service.classify_sentences, body)
            text, upload, mode = await _read_form(request, service)
            if upload is not None:
                if text and text.strip():
                    raise HTTPException(400, "Give either 'text' or 'file', not both.")
                data = await _read_upload(upload, service)
                return await run_in_threadpool(service.classify_bytes, data, upload.filename or "upload.txt", mode)
            return await run_in_threadpool(service.classify_text, text or "")

    async def outlet_upload(request: Request) -> tuple[str, bytes, dict[str, Any]]:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("multipart/form-data"):
            raise HTTPException(
                415, "Send a multipart form with the classified JSONL as 'file', e.g. curl -F file=@classified.jsonl."
            )
        form = await _parse_form(request, 64 * 1024)
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise HTTPException(400, "Upload a classified JSONL file (the output of `framing classify -o`) as 'file'.")
        name = upload.filename
        if Path(name).suffix.lower() not in (".jsonl", ".ndjson"):
            raise HTTPException(415, f"{name}: the outlet report reads a classified .jsonl file.")
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        return name, await _read_upload(upload, service), _outlet_settings(values)

    def locked_report(data: bytes, name: str, settings: dict[str, Any]) -> dict[str, Any]:
        # Resampling is as CPU-hungry as the model: one report at a time, in a child process
        # killed at the time limit, so classify requests keep their turns meanwhile.
        if not service._outlet_slot.acquire(blocking=False):
            raise _busy("The server is making another outlet report; try again in a few seconds.")
        try:
            return outlet_report_limited(data, name, settings, service.time_limit, model_path)
        finally:
            service._outlet_slot.release()

    @app.post(
        "/api/outlets",
        response_model=OutletsResponse,
        responses=_ERRORS,
        summary="The outlet report, as JSON, for an uploaded classified JSONL file",
        openapi_extra=_OUTLETS_FORM,
    )
    async def outlets_json(request: Request) -> OutletsResponse:
        name, data, settings = await outlet_upload(request)
        report = await run_in_threadpool(locked_report, data, name, settings)
        return OutletsResponse(name=name, report=report)

    @app.post("/outlets/report", include_in_schema=False)
    async def outlets_html(request: Request, download: bool = False) -> Response:
        try:
            name, data, settings = await outlet_upload(request)
            report = await run_in_threadpool(locked_report, data, name, settings)
        except HTTPException as exc:
            # A plain form post lands here, so the answer is a page, not JSON.
            return HTMLResponse(_error_page(str(exc.detail)), status_code=exc.status_code)
        from framing.outlets.report import render_html

        html = render_html(report, report["inputs"])
        headers = {"Content-Security-Policy": _REPORT_CSP}
        if download:
            stem = re.sub(r"[^\w.-]", "_", Path(name).stem) or "outlets"
            headers["Content-Disposition"] = f'attachment; filename="{stem}-outlets-report.html"'
        else:
            html = _back_link(html)
        return HTMLResponse(html, headers=headers)

    return app


def _refuse_foreign(request: Request, hosts: set[str] | None) -> Response | None:
    """403 for a POST from another site's page (its Origin is not this server), 400 for a Host
    this server does not answer to; None to go on. Requests without an Origin header (curl,
    scripts, same-origin GETs) are the user's own and pass."""
    host = request.headers.get("host", "")
    if hosts is not None:
        name = urlsplit(f"//{host}").hostname or ""
        if name.lower() not in hosts:
            return JSONResponse({"detail": f"Unknown Host {host!r}: this server answers to {', '.join(sorted(hosts))}."}, 400)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    origin = request.headers.get("origin")
    if origin is None:
        return None
    if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
        return JSONResponse({"detail": f"Cross-origin request from {origin!r} refused: use the page this server serves."}, 403)
    return None


def _error_page(message: str) -> str:
    from html import escape

    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>framing: cannot make the report</title>'
        '<link rel="stylesheet" href="/static/style.css"></head><body><main><div class="panel">'
        f'<h2>The report could not be made</h2><p class="error">{escape(message)}</p>'
        '<p><a href="/outlets">&larr; back to the upload form</a></p></div></main></body></html>'
    )
