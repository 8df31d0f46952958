"""The researcher's workflow: files that keep their mode and open in Excel, one sentence is one
prediction, commands that say what they miss instead of printing empty tables."""

from __future__ import annotations

import os
import stat

from typer.testing import CliRunner

from framing.cli.app import app

runner = CliRunner()


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def test_finished_files_get_the_ordinary_mode_not_a_private_one(tmp_path):
    from framing.files import write_text_atomic

    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "report.html", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644


def test_outlet_tables_start_with_a_byte_order_mark_for_excel(tmp_path):
    from framing.outlets.report import _write_csv

    _write_csv(tmp_path / "t.csv", ["outlet"], [["الجزيرة"]])
    assert (tmp_path / "t.csv").read_bytes().startswith(b"\xef\xbb\xbfoutlet\n")


def test_one_string_is_one_sentence(tiny_classifier):
    one = tiny_classifier.predict("The ministry said 40 tankers arrived.")
    assert len(one) == 1
    assert one == tiny_classifier.predict(["The ministry said 40 tankers arrived."])


def test_corpus_stats_without_files_says_so(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("corpus", "stats")
    assert result.exit_code == 2 and "no corpus files given" in result.output
