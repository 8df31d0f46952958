from __future__ import annotations

import json

import pytest

from framing.training.config import ConfigError, load_config, parse_config
from framing.training.data import CorpusError, load_corpus, split_by_article, with_context

from .conftest import TINY_CORPUS


def minimal() -> dict:
    return {"seed": 1, "data": {"train": "x.jsonl"}}


def test_defaults_fill_in_and_round_trip_to_yaml():
    config = parse_config(minimal())
    assert config.training.learning_rate == 1e-4 and config.model.use_context
    assert "learning_rate: 0.0001" in config.to_yaml()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("seed"), "seed: required key is missing"),
        (lambda c: c.update(trainig={}), "trainig: unknown key"),
        (lambda c: c["data"].update(trian="a"), "data.trian: unknown key"),
        (lambda c: c.update(training={"learning_rate": -1}), "training.learning_rate"),
        (lambda c: c.update(training={"class_weighting": "yes"}), "training.class_weighting"),
        (lambda c: c.update(model={"max_length": 64, "context_max_tokens": 60}), "context_max_tokens"),
    ],
)
def test_bad_configs_are_rejected_with_the_key_named(change, message):
    config = minimal()
    change(config)
    with pytest.raises(ConfigError, match=message):
        parse_config(config, "c.yaml")


def test_config_file_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("seed: 1\ndata: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: invalid YAML"):
        load_config(path)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "missing.yaml")


def write_rows(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


ROW = {
    "id": "a-1",
    "article": "a",
    "outlet": "o",
    "lang": "en",
    "text": "The army said so.",
    "label": "attributed_fact",
    "source": "The army said",
    "source_type": "military_security",
}


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({**ROW, "label": "fact"}, "unknown label 'fact'"),
        ({**ROW, "source": "The navy said"}, "not a substring"),
        ({k: v for k, v in ROW.items() if k != "source"}, "needs a 'source'"),
        ({**ROW, "text": 5}, "field 'text'"),
        ({**ROW, "source_type": "bank"}, "source_type 'bank'"),
    ],
)
def test_bad_corpus_rows_name_file_and_line(tmp_path, row, message):
    path = write_rows(tmp_path / "c.jsonl", [{**ROW, "id": "a-0"}, row])
    with pytest.raises(CorpusError, match=rf"c\.jsonl:2: .*{message}"):
        load_corpus(path)


def test_duplicate_ids_and_malformed_json(tmp_path):
    with pytest.raises(CorpusError, match=r"c\.jsonl:2: duplicate id 'a-1'"):
        load_corpus(write_rows(tmp_path / "c.jsonl", [ROW, ROW]))
    bad = tmp_path / "m.jsonl"
    bad.write_text(json.dumps(ROW) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"m\.jsonl:2: malformed JSON"):
        load_corpus(bad)


def test_split_by_article_keeps_articles_whole_and_is_seeded():
    rows = load_corpus(TINY_CORPUS)
    rest, held = split_by_article(rows, 0.3, seed=3)
    assert {r["article"] for r in rest}.isdisjoint({r["article"] for r in held})
    assert len(rest) + len(held) == len(rows) and held
    assert split_by_article(rows, 0.3, seed=3) == (rest, held)


def test_context_is_the_previous_sentence_of_the_same_article_only():
    rows = with_context(load_corpus(TINY_CORPUS))
    for previous, row in zip(rows, rows[1:], strict=False):
        expected = previous["text"] if previous["article"] == row["article"] else None
        assert row["context"] == expected
    assert rows[0]["context"] is None
