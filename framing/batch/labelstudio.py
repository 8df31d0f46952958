"""The correction loop with Label Studio: export the sentences the model is least sure of as
tasks with its predictions pre-annotated, and import the corrected export as corpus rows.

Export reads classified sentence rows (the output of `framing classify`), picks the least sure
by margin (top probability minus the second) or entropy, plus a seeded random share of the rest,
so that the corrected sample also contains an unbiased draw for honest estimates (each task's
`selected` says which). Each task shows the preceding sentence of the same article as context;
the prediction is a pre-annotation of the `label` choice, and a predicted source span
(`source_start`/`source_end` in the row, when a model gives one) of the `source` labels.

Import reads Label Studio's JSON export (a list of tasks, each with `data` and `annotations`,
each annotation a `result` list of regions named by `from_name`), takes each task's latest
annotation that was not cancelled, and writes corpus rows checked by the corpus rules.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from xml.sax.saxutils import quoteattr

from framing.batch.inputs import InputError
from framing.limits import iter_json_objects
from framing.model.labels import DEFINITIONS, LABELS, SOURCE_TYPES, SOURCED_LABELS

#: Control and object tag names shared by the labelling config, the tasks and the import.
TEXT, CONTEXT, LABEL, SOURCE, SOURCE_TYPE = "text", "context", "label", "source", "source_type"
#: Task data fields that are the sentence's place or the model's, not corpus fields.
_NOT_DATA = {"scores", "label", "gold_label", "context"}


class LabelStudioError(InputError):
    """A Label Studio file or a classified file that cannot be used; one line, naming the task or line."""


def uncertainty(scores: dict[str, float], by: str = "margin") -> float:
    """Higher is less sure: 1 - (top probability - second) for `margin`, entropy in bits for `entropy`."""
    probs = sorted((float(scores[label]) for label in LABELS), reverse=True)
    if by == "margin":
        return 1.0 - (probs[0] - probs[1])
    if by == "entropy":
        return -sum(p * math.log2(p) for p in probs if p > 0)
    raise ValueError(f"uncertainty must be margin or entropy, not {by!r}")


def read_classified(paths: Iterable[Path]) -> list[tuple[dict, str | None]]:
    """(row, the preceding sentence of its article or None) for each classified row."""
    out: list[tuple[dict, str | None]] = []
    for path in paths:
        previous: dict | None = None
        if not path.is_file():
            raise LabelStudioError(f"{path}: file not found")
        for number, row in iter_json_objects(path, LabelStudioError):
            if not isinstance(row.get("text"), str):
                raise LabelStudioError(f"{path}:{number}: expected an object with a string 'text'")
            scores = row.get("scores")
            if not isinstance(scores, dict) or any(not isinstance(scores.get(label), int | float) for label in LABELS):
                raise LabelStudioError(f"{path}:{number}: no 'scores' for every label; export reads `framing classify` output")
            same = previous is not None and row.get("article") is not None and previous.get("article") == row.get("article")
            out.append((row, previous["text"] if same else None))
            previous = row
    return out


def select(
    rows: list[tuple[dict, str | None]], n: int, random_share: float = 0.2, by: str = "margin", seed: int = 0
) -> list[tuple[dict, str | None, str, float]]:
    """Up to `n` rows: the least sure, and `random_share` of `n` drawn at random from the rest.
    Returns (row, context, "least_sure" or "random", uncertainty), in a seeded shuffled order
    so that annotators cannot tell the two apart."""
    scored = [(row, context, uncertainty(row["scores"], by)) for row, context in rows]
    n = min(n, len(scored))
    n_random = round(n * random_share)
    order = sorted(range(len(scored)), key=lambda i: -scored[i][2])
    least = order[: n - n_random]
    rng = random.Random(seed)
    rest = sorted(set(range(len(scored))) - set(least))
    drawn = rng.sample(rest, min(n_random, len(rest)))
    chosen = [(i, "least_sure") for i in least] + [(i, "random") for i in drawn]
    rng.shuffle(chosen)
    return [(scored[i][0], scored[i][1], how, scored[i][2]) for i, how in chosen]


def _source_span(row: dict) -> tuple[int, int] | None:
    start, end = row.get("source_start"), row.get("source_end")
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(row["text"]):
        return start, end
    return None


def task(row: dict, context: str | None, selected: str, score: float) -> dict:
    """A Label Studio task: the sentence and its context as data, the model's label (and source
    span, when the row has one) as a prediction."""
    data = {k: v for k, v in row.items() if k not in _NOT_DATA and not isinstance(v, dict | list)}
    data |= {TEXT: row["text"], CONTEXT: context or "", "selected": selected, "uncertainty": round(score, 5)}
    result: list[dict] = [
        {"id": "label", "from_name": LABEL, "to_name": TEXT, "type": "choices", "value": {"choices": [row["label"]]}}
    ]
    span = _source_span(row)
    if span is not None:
        start, end = span
        value = {"start": start, "end": end, "text": row["text"][start:end], "labels": [SOURCE]}
        result.append({"id": "source", "from_name": SOURCE, "to_name": TEXT, "type": "labels", "value": value})
    if row.get("source_type") in SOURCE_TYPES:
        value = {"choices": [row["source_type"]]}
        result.append({"id": "source_type", "from_name": SOURCE_TYPE, "to_name": TEXT, "type": "choices", "value": value})
    prediction = {"model_version": str(row.get("model") or "framing"), "score": round(max(row["scores"].values()), 5)}
    return {"data": data, "predictions": [prediction | {"result": result}]}


def labelling_config() -> str:
    """The Label Studio labelling interface: context, sentence, a source span, the label (with
    the guideline's one-line definitions as hints) and, for sourced labels, the source type."""
    choices = "\n".join(f"    <Choice value={quoteattr(label)} hint={quoteattr(DEFINITIONS[label])}/>" for label in LABELS)
    types = "\n".join(f"    <Choice value={quoteattr(t)}/>" for t in SOURCE_TYPES)
    sourced = ",".join(label for label in LABELS if label in SOURCED_LABELS)
    return f"""<View>
  <Header value="Preceding sentence of the article"/>
  <Text name="{CONTEXT}" value="${CONTEXT}"/>
  <Header value="Sentence: mark the source's words, then choose the label"/>
  <Text name="{TEXT}" value="${TEXT}" granularity="word"/>
  <Labels name="{SOURCE}" toName="{TEXT}">
    <Label value="{SOURCE}" background="#2a9d8f"/>
  </Labels>
  <Choices name="{LABEL}" toName="{TEXT}" choice="single-radio" required="true">
{choices}
  </Choices>
  <View visibleWhen="choice-selected" whenTagName="{LABEL}" whenChoiceValue="{sourced}">
    <Header value="Source type"/>
    <Choices name="{SOURCE_TYPE}" toName="{TEXT}" choice="single-radio">
{types}
    </Choices>
  </View>
</View>
"""


# ---------------------------------------------------------------------------------------------
# Import


def _latest_annotation(annotations: object) -> dict | None:
    kept = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")] if isinstance(annotations, list) else []
    if not kept:
        return None
    # The latest correction wins; ISO timestamps sort as text, and list order breaks ties.
    return max(enumerate(kept), key=lambda pair: (str(pair[1].get("updated_at") or pair[1].get("created_at") or ""), pair[0]))[1]


def corpus_rows(export: Path) -> Iterator[dict | str]:
    """A corpus row for each annotated task of a Label Studio JSON export, or, for a task that
    nobody annotated, its id as a string (counted, not imported). Rows are checked by
    `framing.training.data` rules by the caller; problems here name the task."""
    from framing.model.langid import detect_language

    try:
        tasks = json.loads(export.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise LabelStudioError(f"{export}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LabelStudioError(f"{export}: not a Label Studio JSON export ({exc})") from None
    if not isinstance(tasks, list):
        raise LabelStudioError(f"{export}: not a Label Studio JSON export (expected a list of tasks)")
    for number, item in enumerate(tasks, 1):
        where = f"{export}: task {item.get('id', number) if isinstance(item, dict) else number}"
        data = item.get("data") if isinstance(item, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get(TEXT), str):
            raise LabelStudioError(f"{where}: no data.{TEXT}")
        annotation = _latest_annotation(item.get("annotations"))
        if annotation is None:
            yield str(item.get("id", number))
            continue
        labels, spans, types = [], [], []
        for region in annotation.get("result") or []:
            value = region.get("value") or {} if isinstance(region, dict) else {}
            name = region.get("from_name") if isinstance(region, dict) else None
            if name == LABEL:
                labels += value.get("choices") or []
            elif name == SOURCE and isinstance(value.get("start"), int) and isinstance(value.get("end"), int):
                spans.append((value["start"], value["end"]))
            elif name == SOURCE_TYPE:
                types += value.get("choices") or []
        if len(labels) != 1:
            raise LabelStudioError(f"{where}: {'no label chosen' if not labels else 'more than one label chosen'}")
        text = data[TEXT]
        row = {
            "id": str(data.get("id") or f"labelstudio-{item.get('id', number)}"),
            "article": str(data.get("article") or data.get("id") or f"labelstudio-{item.get('id', number)}"),
            "outlet": str(data.get("outlet") or "(unknown)"),
            "lang": data.get("lang") if isinstance(data.get("lang"), str) and data["lang"] else detect_language(text),
            "text": text,
            "label": labels[0],
        }
        if row["label"] in SOURCED_LABELS and spans:
            # The corpus keeps one source per sentence: the first marked, in reading order.
            start, end = min(spans)
            row["source"] = text[start:end]
        if types and row["label"] in SOURCED_LABELS:
            row["source_type"] = types[0]
        for key in ("topic", "region", "date"):
            if isinstance(data.get(key), str) and data[key]:
                row[key] = data[key]
        yield row
