"""Do over-long sentences keep their attribution? Head+tail truncation against head-only.

Takes the test split's attributed_fact and analyst_claim sentences whose source sits in the
second half of the sentence ("..., officials said"), makes each longer than the model's limit
by inserting neutral clauses (taken from the same split's unattributed sentences) before the
source, and classifies them twice: with our truncation (keep the first and last tokens) and
with plain head truncation (what `truncation=True` in a tokenizer does).

    python bench/long_sentences.py --model model/default --data data/test.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import torch

from framing.model import FramingClassifier
from framing.model.features import clean_for_model
from framing.model.labels import LABEL2ID
from framing.model.modeling import pad_batch


def _features(classifier: FramingClassifier, sentence: str, head_only: bool) -> dict:
    tokenizer, settings = classifier.tokenizer, classifier.settings
    ids = tokenizer(settings.prefix + clean_for_model(sentence), add_special_tokens=False)["input_ids"]
    budget = settings.max_length - 2
    if len(ids) > budget:
        ids = ids[:budget] if head_only else ids[: budget // 2] + ids[len(ids) - (budget - budget // 2) :]
    ids = [tokenizer.cls_token_id, *ids, tokenizer.sep_token_id]
    return {"input_ids": ids, "token_type_ids": [0] * len(ids), "attention_mask": [1] * len(ids)}


def _accuracy(classifier: FramingClassifier, sentences: list[str], gold: list[str], head_only: bool) -> float:
    correct = 0
    with torch.inference_mode():
        for begin in range(0, len(sentences), 16):
            batch = [_features(classifier, s, head_only) for s in sentences[begin : begin + 16]]
            logits = classifier.model(**pad_batch(batch, classifier.tokenizer.pad_token_id)).logits
            predicted = logits.argmax(-1).tolist()
            correct += sum(p == LABEL2ID[g] for p, g in zip(predicted, gold[begin : begin + 16], strict=True))
    return correct / len(sentences)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=Path("model/default"))
    parser.add_argument("--data", type=Path, default=Path("data/test.jsonl"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--after", type=float, default=0.5, help="source starts after this fraction of the sentence")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines()]
    classifier = FramingClassifier.from_pretrained(args.model, backend="torch")  # reads the torch model directly
    rng = random.Random(args.seed)
    results = {}
    for lang in ("ar", "en"):
        fillers = [r["text"].rstrip(".") for r in rows if r["lang"] == lang and r["label"] == "unattributed_assertion"]
        late = [
            r
            for r in rows
            if r["lang"] == lang
            and r["label"] in ("attributed_fact", "analyst_claim")
            and r["text"].find(r["source"]) > len(r["text"]) * args.after
        ]
        long_sentences, gold = [], []
        joiner = "، و" if lang == "ar" else ", and "
        for r in late:
            cut = r["text"].find(r["source"])
            head, tail = r["text"][:cut].rstrip(" ,،"), r["text"][cut:]
            padding = joiner.join(rng.sample(fillers, 6))
            long_sentences.append(
                f"{head}{joiner}{padding}{joiner}{tail}" if lang == "en" else f"{head}{joiner}{padding}، {tail}"
            )
            gold.append(r["label"])
        tokens = [len(classifier.tokenizer(s)["input_ids"]) for s in long_sentences]
        results[lang] = {
            "sentences": len(long_sentences),
            "mean_tokens": round(sum(tokens) / max(1, len(tokens)), 1),
            "over_limit": sum(t > classifier.settings.max_length for t in tokens),
            "accuracy_head_and_tail": round(_accuracy(classifier, long_sentences, gold, head_only=False), 3),
            "accuracy_head_only": round(_accuracy(classifier, long_sentences, gold, head_only=True), 3),
        }
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
