"""For notebooks: the outlet report from a pandas DataFrame, shown as the HTML report in Jupyter.

    from framing import FramingClassifier
    from framing.notebook import outlet_report

    classifier = FramingClassifier.from_pretrained("model/default")
    sentences = classifier.classify_dataframe(df, text="body", id="url")  # one row per sentence
    report = outlet_report(sentences)   # displays as the HTML report in Jupyter
    report.outlets                      # the per-outlet table as a DataFrame

The DataFrame is checked exactly as `framing outlets` checks a file (it is written to a temporary
JSONL file and read back by the same reader), and errors name the DataFrame row instead of a line.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path

from framing.errors import FramingError
from framing.outlets.analysis import OutletsInputError, OutletsSettings, analyse, load_articles


class OutletReport:
    """The outlet report (`report`, the dict `framing outlets` writes as report.json), its
    tables as DataFrames, and the HTML report as the notebook's display."""

    def __init__(self, report: dict) -> None:
        self.report = report

    @property
    def outlets(self):
        import pandas as pd

        from framing.outlets.report import outlet_rows

        header, rows = outlet_rows(self.report)
        return pd.DataFrame(rows, columns=header)

    @property
    def comparisons(self):
        import pandas as pd

        from framing.outlets.report import comparison_rows

        header, rows = comparison_rows(self.report)
        return pd.DataFrame(rows, columns=header)

    def _repr_html_(self) -> str:
        from framing.outlets.report import render_html

        return render_html(self.report, ["DataFrame"])

    def write(self, folder: str | Path) -> dict[str, Path]:
        """report.html, report.json and the CSV tables, as `framing outlets -o FOLDER` writes them."""
        from framing.outlets.report import write_report

        return write_report(self.report, Path(folder), ["DataFrame"])


def _cell(value: object) -> object:
    # pandas gives NaN for a missing cell, and numpy scalars; JSON wants null and plain numbers.
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def outlet_report(df, **settings) -> OutletReport:
    """The outlet report of classified sentence rows (columns `outlet`, `article`, `label`, and
    `lang`, `gold_label`, `source_type`, `topic`, `date` when present). `settings` are
    `OutletsSettings` fields: min_articles, min_sentences, n_bootstrap, n_permutations, seed,
    alpha, stratify, correction, shares. Shares are also corrected for the model's errors with the
    shipped model's confusion file when the rows carry probabilities and are that model's."""
    with tempfile.TemporaryDirectory(prefix="framing-notebook-") as tmp:
        path = Path(tmp) / "dataframe.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for record in df.to_dict("records"):
                row = {str(k): _cell(v) for k, v in record.items()}
                fh.write(json.dumps({k: v for k, v in row.items() if v is not None}, ensure_ascii=False, default=str) + "\n")
        try:
            options = OutletsSettings(**settings)
            articles = load_articles([path], None, options.stratify)
            # Corrected shares with the shipped model's error rates, when the rows are that model's.
            from framing.model.default_model import default_model_dir
            from framing.outlets.quantify import rates_for_rows

            made_by = {a.model_sha256 for a in articles if a.model_sha256}
            rates, why_not = rates_for_rows(default_model_dir(), made_by) if options.correction != "none" else (None, None)
            report = analyse(articles, options, rates, why_not)
        except OutletsInputError as exc:
            message = re.sub(rf"{re.escape(str(path))}:(\d+)", lambda m: f"DataFrame row {int(m.group(1)) - 1}", str(exc))
            raise FramingError(message.replace(str(path), "DataFrame")) from None
    return OutletReport(report)
