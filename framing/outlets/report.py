"""Rendering the outlets analysis: one self-contained HTML page (inline SVG charts, no network),
CSV and JSON tables, and rich tables for the terminal.

The charts are SVG written here rather than matplotlib images: the browser then shapes Arabic
outlet names and lays them out right to left, which matplotlib cannot do without extra packages,
and every bar carries its numbers as a tooltip.
"""

from __future__ import annotations

import csv
import html
import math
from collections.abc import Sequence
from pathlib import Path

from framing.files import atomic_open, safe_csv_cell, write_json_atomic, write_text_atomic
from framing.model.labels import LABELS, SOURCE_TYPES

COLOURS: dict[str, str] = {  # colour-blind safe (ColorBrewer Dark2), `other` neutral
    "attributed_fact": "#1b9e77",
    "analyst_claim": "#7570b3",
    "unattributed_assertion": "#d95f02",
    "other": "#bdbdbd",
}
SHORT: dict[str, str] = {
    "attributed_fact": "attributed",
    "analyst_claim": "analyst",
    "unattributed_assertion": "unattributed",
    "other": "other",
}
#: Column names in the terminal, as in `framing evaluate`'s confusion table.
TERMINAL_SHORT: dict[str, str] = {
    "attributed_fact": "attr",
    "analyst_claim": "analyst",
    "unattributed_assertion": "unattr",
    "other": "other",
}
POOLED_NAME = "all outlets (pooled)"
REST_NAME = "(all other outlets)"

FILES = {
    "html": "report.html",
    "json": "report.json",
    "outlets": "outlets.csv",
    "comparisons": "comparisons.csv",
    "source_types": "source_types.csv",
    "gold": "gold_vs_predicted.csv",
}


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _pct(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{100 * x:.{digits}f}%"


def _ci_pct(ci: Sequence[float] | None) -> str:
    return "" if ci is None else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}"


def _idx(x: float | None) -> str:
    return "–" if x is None else f"{x:+.2f}"


def _ci_idx(ci: Sequence[float] | None) -> str:
    return "" if ci is None else f"{ci[0]:+.2f} to {ci[1]:+.2f}"


def _p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _view(report: dict, entry: dict) -> tuple[dict, dict | None, float | None, list[float] | None]:
    """The shares and index that the charts and the ranking use: standardised when stratified."""
    if report["settings"]["stratify"]:
        return entry["std_shares"], entry["std_share_ci"], entry["std_index"], entry["std_index_ci"]
    return entry["shares"], entry["share_ci"], entry["index"], entry["index_ci"]


def _chart_rows(section: dict) -> list[dict]:
    return [*section["outlets"], {**section["pooled"], "outlet": POOLED_NAME, "eligible": True, "pooled": True}]


def _name_width(names: Sequence[str]) -> int:
    longest = max((len(n) for n in names), default=10)
    return int(min(300, max(130, 7.2 * min(longest, 40) + 20)))


def _name_label(row: dict, x: float, y: float) -> str:
    """An outlet's name at the left of a chart row, right-aligned, full name on hover."""
    faded = not row["eligible"]
    klass = "name pooled" if row.get("pooled") else ("name flagged" if faded else "name")
    return (
        f'<text x="{x}" y="{y}" text-anchor="end" class="{klass}">'
        f"<title>{_e(row['outlet'])}</title>{_e(_clip_name(row['outlet']))}</text>"
    )


def _clip_name(name: str) -> str:
    return name if len(name) <= 40 else name[:39] + "…"


# ---------------------------------------------------------------------------------------------
# SVG charts


def shares_svg(report: dict, lang: str) -> str:
    """Horizontal stacked bars of label shares per outlet. Each segment carries a whisker, drawn
    from the segment's left edge, spanning the 95% interval of that segment's length."""
    section = report["languages"][lang]
    rows = _chart_rows(section)
    name_w, bar_w, row_h, top = _name_width([r["outlet"] for r in rows]), 440, 30, 46
    width, height = name_w + bar_w + 30, top + row_h * len(rows) + 40
    level = round(100 * report["settings"]["confidence"])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart shares" id="shares-{_e(lang)}" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="Label shares per outlet ({_e(lang)})">'
    ]
    x = 8
    for label in LABELS:  # legend
        out.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{COLOURS[label]}"/>')
        out.append(f'<text x="{x + 16}" y="18" class="legend">{_e(label)}</text>')
        x += 26 + 7 * len(label)
    out.append(
        f'<text x="8" y="36" class="note">whiskers: {level}% interval of each segment\'s length '
        "(articles resampled); faded: too little data</text>"
    )
    for i, row in enumerate(rows):
        y = top + i * row_h
        values, ci, _, _ = _view(report, row)
        faded = not row["eligible"]
        out.append(_name_label(row, name_w - 8, y + row_h / 2 + 4))
        start = 0.0
        group = '<g opacity="0.4">' if faded else "<g>"
        out.append(group)
        for j, label in enumerate(LABELS):
            share = values[label]
            interval = f" ({level}% interval {_ci_pct(ci[label])})" if ci else ""
            out.append(
                f'<rect class="seg" data-label="{label}" x="{name_w + start * bar_w:.1f}" y="{y + 4}" '
                f'width="{share * bar_w:.1f}" height="{row_h - 8}" fill="{COLOURS[label]}">'
                f"<title>{_e(row['outlet'])}: {label} {_pct(share)}{interval}</title></rect>"
            )
            if ci:
                lo, hi = ci[label]
                wy = y + 8 + j * (row_h - 16) / (len(LABELS) - 1)
                x0, x1 = name_w + (start + lo) * bar_w, name_w + (start + hi) * bar_w
                out.append(
                    f'<path class="whisker" d="M{x0:.1f},{wy:.1f}H{x1:.1f}M{x0:.1f},{wy - 2:.1f}V{wy + 2:.1f}'
                    f'M{x1:.1f},{wy - 2:.1f}V{wy + 2:.1f}"/>'
                )
            start += share
        out.append("</g>")
    axis_y = top + row_h * len(rows) + 4
    out.append(f'<line x1="{name_w}" x2="{name_w + bar_w}" y1="{axis_y}" y2="{axis_y}" class="axis"/>')
    for tick in (0, 25, 50, 75, 100):
        tx = name_w + tick / 100 * bar_w
        out.append(f'<line x1="{tx}" x2="{tx}" y1="{axis_y}" y2="{axis_y + 4}" class="axis"/>')
        out.append(f'<text x="{tx}" y="{axis_y + 17}" text-anchor="middle" class="tick">{tick}%</text>')
    out.append("</svg>")
    return "".join(out)


def _ticks(lo: float, hi: float) -> list[float]:
    span = hi - lo
    step = next(s for s in (0.05, 0.1, 0.2, 0.25, 0.5, 1.0) if span / s <= 8)
    first = math.ceil(lo / step - 1e-9) * step
    return [round(first + k * step, 6) for k in range(int((hi - first) / step + 1e-9) + 1)]


def forest_svg(report: dict, lang: str) -> str:
    """The sourcing index of each outlet with its interval; ranked outlets first, then the
    flagged ones (hollow), then the pooled value, which is also the dashed reference line."""
    section = report["languages"][lang]
    rows = _chart_rows(section)
    has_gold = report["has_gold"]
    corrected_key = "std_index" if report["settings"]["stratify"] else "index"
    has_corrected = section.get("correction", {}).get("applied", False)
    points: list[float] = [0.0]
    for row in rows:
        _, _, index, ci = _view(report, row)
        points += [v for v in (index, *(ci or ())) if v is not None]
        if has_gold and "gold" in row and row["gold"]["gold_index"] is not None:
            points.append(row["gold"]["gold_index"])
        if has_corrected and row.get("corrected") and row["corrected"][corrected_key] is not None:
            points.append(row["corrected"][corrected_key])
    lo, hi = max(-1.0, min(points) - 0.05), min(1.0, max(points) + 0.05)
    name_w, plot_w, row_h, top = _name_width([r["outlet"] for r in rows]), 330, 30, 46 + (16 if has_corrected else 0)
    text_w = 140
    width, height = name_w + plot_w + text_w, top + row_h * len(rows) + 40

    def sx(v: float) -> float:
        return name_w + (v - lo) / (hi - lo) * plot_w

    level = round(100 * report["settings"]["confidence"])
    what = "standardised sourcing index" if report["settings"]["stratify"] else "sourcing index"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart forest" id="forest-{_e(lang)}" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" aria-label="Sourcing index per outlet ({_e(lang)})">',
        f'<text x="8" y="18" class="legend"><tspan>● {what} with {level}% interval</tspan>'
        + ('<tspan dx="14">◇ same, from gold labels</tspan>' if has_gold else "")
        + '<tspan dx="14">○ too little data (not ranked)</tspan></text>',
        '<text x="8" y="36" class="note">−1: no claim sourced · +1: every claim sourced · dashed: all outlets pooled</text>',
    ]
    if has_corrected:
        out.append('<text x="8" y="52" class="legend">▲ the same, corrected for the model\'s errors</text>')
    axis_y = top + row_h * len(rows) + 4
    for tick in _ticks(lo, hi):
        tx = sx(tick)
        out.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top}" y2="{axis_y}" class="{"zero" if tick == 0 else "grid"}"/>')
        out.append(f'<text x="{tx:.1f}" y="{axis_y + 17}" text-anchor="middle" class="tick">{tick:+.2f}</text>')
    out.append(f'<line x1="{name_w}" x2="{name_w + plot_w}" y1="{axis_y}" y2="{axis_y}" class="axis"/>')
    _, _, pooled_index, _ = _view(report, section["pooled"])
    if pooled_index is not None:
        px = sx(pooled_index)
        out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{top}" y2="{axis_y}" class="pooled-line"/>')
    for i, row in enumerate(rows):
        y = top + i * row_h + row_h / 2
        _, _, index, ci = _view(report, row)
        faded = not row["eligible"]
        out.append(_name_label(row, name_w - 8, y + 4))
        if index is None:
            out.append(f'<text x="{name_w + 4}" y="{y + 4}" class="note">no claim sentences</text>')
            continue
        tip = f"{_e(row['outlet'])}: {_idx(index)}" + (f" ({level}% interval {_ci_idx(ci)})" if ci else "")
        out.append(f'<g class="{"point flagged" if faded else "point"}"><title>{tip}</title>')
        if ci:
            out.append(f'<line x1="{sx(ci[0]):.1f}" x2="{sx(ci[1]):.1f}" y1="{y}" y2="{y}" class="ci"/>')
        fill = "#fff" if faded else ("#444" if row.get("pooled") else "#1f4e79")
        out.append(f'<circle cx="{sx(index):.1f}" cy="{y}" r="4.5" fill="{fill}" stroke="#1f4e79" stroke-width="1.5"/></g>')
        if has_gold and "gold" in row and row["gold"]["gold_index"] is not None:
            gx = sx(row["gold"]["gold_index"])
            out.append(
                f'<path class="gold" d="M{gx:.1f},{y - 5}L{gx + 5:.1f},{y}L{gx:.1f},{y + 5}L{gx - 5:.1f},{y}Z">'
                f"<title>{_e(row['outlet'])}: gold {_idx(row['gold']['gold_index'])}</title></path>"
            )
        fixed = row.get("corrected") if has_corrected else None
        if fixed and fixed[corrected_key] is not None:
            cx = sx(fixed[corrected_key])
            out.append(
                f'<path class="corrected" d="M{cx:.1f},{y - 9:.1f}L{cx + 4.5:.1f},{y - 2:.1f}L{cx - 4.5:.1f},{y - 2:.1f}Z">'
                f"<title>{_e(row['outlet'])}: corrected for the model's errors {_idx(fixed[corrected_key])}</title></path>"
            )
        out.append(
            f'<text x="{name_w + plot_w + 10}" y="{y + 4}" class="tick">{_idx(index)}'
            + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")
            + "</text>"
        )
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# HTML


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans Arabic","DejaVu Sans",Arial,sans-serif;
margin:24px auto;max-width:1440px;padding:0 16px;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:2px solid #ddd;padding-bottom:.2em}
h3{margin-top:1.3em}.sub{color:#555}.charts{display:flex;flex-wrap:wrap;gap:24px;align-items:flex-start}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}th,td{border:1px solid #ddd;padding:4px 7px;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.ci{color:#777;font-size:.85em;display:block}.flagged td{color:#888}.sig{background:#fde7d6;font-weight:600}
.nopower{color:#aaa}.statement,.explain{background:#f1f6fb;border-left:4px solid #1f4e79;padding:8px 12px}
.notes li{color:#555}.wrap{overflow-x:auto}code{background:#f4f4f4;padding:0 3px}
svg text{font-size:12px;fill:#222}svg text.legend{font-size:12px}svg text.note{font-size:11px;fill:#666}
svg text.tick{font-size:11px;fill:#444}svg text.flagged{fill:#999;font-style:italic}svg text.pooled{font-weight:700}
svg .axis{stroke:#444}svg .grid{stroke:#eee}svg .zero{stroke:#aaa}svg .pooled-line{stroke:#444;stroke-dasharray:4 3}
svg .whisker{stroke:#111;stroke-width:1.2;fill:none}svg .ci{stroke:#1f4e79;stroke-width:2}
svg .point.flagged .ci{stroke:#9ab}svg .gold{fill:none;stroke:#000;stroke-width:1.3}svg .corrected{fill:#c0392b}
figure{margin:0}figcaption{font-weight:600;margin-bottom:4px}
.swatch{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:baseline}
"""


def _outlet_cell(name: str) -> str:
    return f"<td><bdi>{_e(name)}</bdi></td>"


def _outlets_table(report: dict, lang: str) -> str:
    section = report["languages"][lang]
    stratify = report["settings"]["stratify"]
    level = round(100 * report["settings"]["confidence"])
    head = ["outlet", "articles", "sentences"]
    head += [f'<span class="swatch" style="background:{COLOURS[label]}"></span>{_e(label)}' for label in LABELS]
    head += ["standardised sourcing index" if stratify else "sourcing index"]
    if stratify:
        head += ["crude sourcing index", f"{_e(stratify)} coverage"]
    head += ["vs. all other outlets", "status"]
    rows = ["<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for entry in [*section["outlets"], {**section["pooled"], "outlet": POOLED_NAME, "eligible": True, "pooled": True}]:
        values, ci, index, index_ci = _view(report, entry)
        pooled = entry.get("pooled", False)
        cells = [_outlet_cell(entry["outlet"])]
        cells.append(f'<td class="num">{section["n_articles"] if pooled else entry["n_articles"]}</td>')
        cells.append(f'<td class="num">{section["n_sentences"] if pooled else entry["n_sentences"]}</td>')
        for label in LABELS:
            interval = f'<span class="ci">{_ci_pct(ci[label])}</span>' if ci else ""
            cells.append(f'<td class="num">{_pct(values[label])}{interval}</td>')
        cells.append(f'<td class="num">{_idx(index)}<span class="ci">{_ci_idx(index_ci)}</span></td>')
        if stratify:
            cells.append(f'<td class="num">{_idx(entry["index"])}<span class="ci">{_ci_idx(entry["index_ci"])}</span></td>')
            cells.append(f'<td class="num">{_pct(entry.get("std_coverage"), 0)}</td>')
        test = entry.get("vs_rest")
        if pooled:
            cells += ["<td></td>", "<td>reference</td>"]
        elif not entry["eligible"]:
            cells += ["<td>not tested</td>", f"<td>{_e(entry['flag'])}</td>"]
        elif test is None:
            cells += [f"<td>{_e(entry.get('vs_rest_note', 'not tested'))}</td>", "<td>ranked</td>"]
        else:
            klass = ' class="num sig"' if test["significant"] else ' class="num"'
            verdict = "differs" if test["significant"] else "no difference shown"
            cells.append(
                f'<td{klass}>TVD {100 * test["statistic"]:.1f} pts<span class="ci">p (Holm) {_p(test["p_holm"])}</span></td>'
            )
            cells.append(f"<td>{verdict}; rank {entry['rank']}</td>" if entry["rank"] else f"<td>{verdict}</td>")
        klass = ' class="flagged"' if not entry["eligible"] else ""
        rows.append(f"<tr{klass}>" + "".join(cells) + "</tr>")
    caption = (
        f"Label shares ({'standardised to the common ' + _e(stratify) + ' mix' if stratify else 'of all sentences'}) "
        f"with {level}% intervals from a cluster bootstrap over articles."
    )
    return (
        f'<div class="wrap"><table class="outlets" id="outlets-{_e(lang)}"><caption>{caption}</caption>'
        + "".join(rows)
        + "</tbody></table></div>"
    )


def _pairwise_table(report: dict, lang: str) -> str:
    section = report["languages"][lang]
    names = [r["outlet"] for r in section["outlets"] if r["eligible"]]
    if len(names) < 2:
        return "<p>Fewer than two outlets with enough data: no pairwise tests.</p>"
    alpha = report["settings"]["alpha"]
    cell: dict[tuple[str, str], dict] = {}
    for p in section["pairwise"]:
        cell[(p["a"], p["b"])] = cell[(p["b"], p["a"])] = p
    rows = ["<thead><tr><th></th>" + "".join(f"<th><bdi>{_e(_clip_name(n))}</bdi></th>" for n in names) + "</tr></thead><tbody>"]
    for a in names:
        cells = [f"<th><bdi>{_e(_clip_name(a))}</bdi></th>"]
        for b in names:
            p = cell.get((a, b))
            if a == b or p is None:
                cells.append("<td></td>")
            elif "p" not in p:
                cells.append(f'<td class="nopower">{_e(p.get("note", ""))}</td>')
            elif 1 / p["arrangements"] > alpha:
                cells.append(
                    f'<td class="num nopower" title="only {p["arrangements"]:.0f} ways to split these articles within strata: '
                    'no test could reach significance">too few</td>'
                )
            else:
                klass = "num sig" if p["significant"] else "num"
                cells.append(f'<td class="{klass}">{100 * p["statistic"]:.1f}<span class="ci">p {_p(p["p_holm"])}</span></td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    n_sig = sum(1 for p in section["pairwise"] if p.get("significant"))
    return (
        f"<p>{n_sig} of {len(section['pairwise'])} pairs differ at α = {alpha} after Holm correction. "
        "Cells: total variation distance between the two outlets' label shares, in percentage points, and the "
        "Holm-adjusted permutation p-value; shaded cells differ.</p>"
        f'<div class="wrap"><table class="pairwise" id="pairwise-{_e(lang)}">' + "".join(rows) + "</tbody></table></div>"
    )


def _source_types_table(report: dict, lang: str) -> str:
    section = report["languages"][lang]
    present = [t for t in SOURCE_TYPES if any(t in r["source_types"]["counts"] for r in section["outlets"])]
    if not present:
        return "<p>No <code>source_type</code> in the input: nothing to show.</p>"
    flags = [k for k in ("source_named", "vague_attribution") if any((r.get(k) or {}).get("n") for r in section["outlets"])]
    head = "<thead><tr><th>outlet</th><th>typed sentences</th>" + "".join(f"<th>{_e(t)}</th>" for t in present)
    head += "".join(f"<th>{'named sources' if k == 'source_named' else 'vague attribution'}</th>" for k in flags)
    rows = [head + "</tr></thead><tbody>"]
    for r in section["outlets"]:
        st = r["source_types"]
        cells = [_outlet_cell(r["outlet"]), f'<td class="num">{st["n"]}</td>']
        for t in present:
            n = st["counts"].get(t, 0)
            share = _pct(st["shares"].get(t, 0.0), 0)
            cells.append(f'<td class="num">{share}<span class="ci">{n}</span></td>' if n else "<td></td>")
        for k in flags:
            flag = r.get(k) or {}
            if flag.get("share") is None:
                cells.append("<td></td>")
                continue
            cells.append(f'<td class="num">{_pct(flag["share"], 0)}<span class="ci">{flag["n"]}</span></td>')
        rows.append(('<tr class="flagged">' if not r["eligible"] else "<tr>") + "".join(cells) + "</tr>")
    return (
        f'<div class="wrap"><table class="source-types" id="source-types-{_e(lang)}">'
        "<caption>Of each outlet's sentences that carry a <code>source_type</code>, the share of each type (count "
        "below); then the share of named sources among sentences with <code>source_named</code>, and of sentences "
        "with a vague attribution. These come from the input as given: in a file classified by a model with "
        "source heads, the model's predictions; in a corpus, its annotation.</caption>" + "".join(rows) + "</tbody></table></div>"
    )


def _gold_table(report: dict, lang: str) -> str:
    section = report["languages"][lang]
    level = round(100 * report["settings"]["confidence"])
    head = ["outlet"] + [f"{_e(SHORT[label])}: predicted / gold" for label in LABELS]
    head += ["index predicted", "index gold", f"predicted − gold ({level}% interval)"]
    rows = ["<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for r in [*section["outlets"], {**section["pooled"], "outlet": POOLED_NAME}]:
        g = r["gold"]
        cells = [_outlet_cell(r["outlet"])]
        for label in LABELS:
            cells.append(
                f'<td class="num">{_pct(g["predicted_shares"][label])} / {_pct(g["gold_shares"][label])}'
                f'<span class="ci">off by {100 * g["abs_diff"][label]:.1f} pts</span></td>'
            )
        cells.append(f'<td class="num">{_idx(g["predicted_index"])}</td><td class="num">{_idx(g["gold_index"])}</td>')
        cells.append(f'<td class="num">{_idx(g["index_diff"])}<span class="ci">{_ci_idx(g["index_diff_ci"])}</span></td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<p class="statement">{_e(section["gold_summary"]["statement"])}</p>'
        f'<div class="wrap"><table class="gold" id="gold-{_e(lang)}">' + "".join(rows) + "</tbody></table></div>"
    )


def _largest_error(correction: dict) -> str | None:
    """The model's most frequent confusion in the calibration sample, in words."""
    stability = correction.get("stability")
    if not stability:
        return None
    rates = stability["confusion_rates"]
    best = max(((i, j) for i in range(len(LABELS)) for j in range(len(LABELS)) if i != j), key=lambda ij: rates[ij[0]][ij[1]])
    rate = rates[best[0]][best[1]]
    if not rate > 0:
        return None
    one_in = f" (about one in {round(1 / rate)})" if rate >= 0.05 else ""
    return f"it labelled {100 * rate:.0f}% of {LABELS[best[0]]} sentences{one_in} as {LABELS[best[1]]}"


def correction_explanation(section: dict) -> str:
    """What the corrected shares are, in plain words, for one language (text, no markup)."""
    c = section["correction"]
    if not c["applied"]:
        return f"No corrected shares: {c['reason']}."
    st = c["stability"]
    largest = _largest_error(c)
    parts = [
        "The model makes mistakes, and not evenly"
        + (f": on {st['calibration_rows']} labelled sentences, {largest}." if largest else ".")
        + " Counting its labels therefore shifts each outlet's shares in the direction of its mistakes.",
        "The corrected shares estimate what the shares would be if every sentence were labelled right, from how "
        f"often the model confused each label on those sentences ({c['source']}); method: {c['method_name']}.",
        "Their intervals include two kinds of chance: which articles the outlet happened to publish, and which "
        "sentences the model's error rates happened to be measured on.",
        "The correction assumes the model errs the same way on every outlet; an outlet whose style misleads the "
        "model in its own way is not fixed by it. Where raw and corrected shares differ by more than their "
        "intervals, the model's errors matter for that outlet.",
    ]
    used = "corrected" if c.get("ranking_on") == "corrected" else "raw"
    tests = c.get("tests_on", "raw")
    parts.append(f"Ranking: {used} sourcing index; tests: {tests} shares.")
    return " ".join(parts)


def _corrected_table(report: dict, lang: str) -> str:
    section = report["languages"][lang]
    stratify = report["settings"]["stratify"]
    level = round(100 * report["settings"]["confidence"])
    if not section["correction"]["applied"]:
        return f'<p class="sub">{_e(correction_explanation(section))}</p>'
    text = f'<p class="explain">{_e(correction_explanation(section))}</p>'
    std = "std_" if stratify else ""
    head = ["outlet"] + [
        f'<span class="swatch" style="background:{COLOURS[label]}"></span>{_e(label)}: raw → corrected' for label in LABELS
    ]
    head += ["sourcing index: raw → corrected", "note"]
    rows = ["<thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for entry in [*section["outlets"], {**section["pooled"], "outlet": POOLED_NAME, "eligible": True, "pooled": True}]:
        fixed = entry["corrected"]
        raw_shares, raw_ci = entry[f"{std}shares"], entry[f"{std}share_ci"]
        cells = [_outlet_cell(entry["outlet"])]
        ci = fixed[f"{std}share_ci"]
        for label in LABELS:
            before, after = _ci_pct(raw_ci[label] if raw_ci else None), _ci_pct(ci[label] if ci else None)
            cells.append(
                f'<td class="num">{_pct(raw_shares[label])} → <b>{_pct(fixed[f"{std}shares"][label])}</b>'
                f'<span class="ci">{before} → {after}</span></td>'
            )
        cells.append(
            f'<td class="num">{_idx(entry[f"{std}index"])} → <b>{_idx(fixed[f"{std}index"])}</b>'
            f'<span class="ci">{_ci_idx(entry[f"{std}index_ci"])} → {_ci_idx(fixed[f"{std}index_ci"])}</span></td>'
        )
        note = "a corrected share fell below zero and was set to zero" if fixed["clipped"] else ""
        cells.append(f"<td>{note}</td>")
        rows.append(('<tr class="flagged">' if not entry["eligible"] else "<tr>") + "".join(cells) + "</tr>")
    caption = (
        f"Raw shares (counting the model's labels) and shares corrected for its errors, "
        f"{'standardised to the common ' + _e(stratify) + ' mix, ' if stratify else ''}with {level}% intervals below."
    )
    return text + (
        f'<div class="wrap"><table class="corrected" id="corrected-{_e(lang)}"><caption>{caption}</caption>'
        + "".join(rows)
        + "</tbody></table></div>"
    )


def render_html(report: dict, inputs: Sequence[str] = ()) -> str:
    settings = report["settings"]
    stratify = settings["stratify"]
    level = round(100 * settings["confidence"])
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing may load from the network: the page is opened offline and archived as one file.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        "<title>Framing across outlets</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>Framing across outlets</h1>",
        f'<p class="sub">Input: {", ".join(f"<code>{_e(i)}</code>" for i in inputs) or "–"}. '
        f"Labels analysed: <code>label</code>{' (predicted; gold from <code>gold_label</code>)' if report['has_gold'] else ''}. "
        f"{level}% intervals from {settings['n_bootstrap']} cluster-bootstrap resamples of articles; "
        f"permutation tests over articles, Holm-corrected at α = {settings['alpha']}; seed {settings['seed']}. "
        f"Outlets with fewer than {settings['min_articles']} articles or {settings['min_sentences']} sentences are "
        "shown faded and are neither ranked nor tested.</p>",
        f'<p class="sub">The {_e(report["sourcing_index_definition"])}.</p>',
    ]
    if stratify:
        parts.append(
            f'<p class="sub">Stratified by <code>{_e(stratify)}</code>: shares and the index are standardised to the '
            f"{_e(stratify)} mix of all outlets in the language (each outlet over the strata it covers; see the coverage "
            f"column), and tests compare outlets within {_e(stratify)} strata, so an outlet is not judged for what it "
            "covers.</p>"
        )
    languages = report["languages"]
    if len(languages) > 1:
        parts.append("<p>Languages: " + ", ".join(f'<a href="#lang-{_e(lang)}">{_e(lang)}</a>' for lang in languages) + "</p>")
    for lang, section in languages.items():
        parts.append(
            f'<section class="language" id="lang-{_e(lang)}"><h2>Language: {_e(lang)}</h2>'
            f'<p class="sub">{section["n_outlets"]} outlets ({section["n_eligible"]} with enough data), '
            f"{section['n_articles']} articles, {section['n_sentences']} sentences.</p>"
        )
        what = f"standardised to the common {_e(stratify)} mix" if stratify else "all sentences"
        parts.append(
            '<div class="charts">'
            f"<figure><figcaption>Label shares per outlet ({what})</figcaption>{shares_svg(report, lang)}</figure>"
            f"<figure><figcaption>Sourcing index per outlet</figcaption>{forest_svg(report, lang)}</figure></div>"
        )
        parts.append("<h3>Outlets</h3>" + _outlets_table(report, lang))
        parts.append("<h3>Corrected for the model's errors</h3>" + _corrected_table(report, lang))
        parts.append("<h3>Pairwise differences</h3>" + _pairwise_table(report, lang))
        parts.append("<h3>Source types</h3>" + _source_types_table(report, lang))
        if report["has_gold"]:
            parts.append("<h3>Predicted vs gold labels</h3>" + _gold_table(report, lang))
        if section["notes"]:
            parts.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in section["notes"]) + "</ul>")
        parts.append("</section>")
    parts.append(
        "<h2>How to read this</h2><ul>"
        f"<li>An interval is the range of values that resampling whole articles gives in {level}% of resamples: it "
        "says how much the share could move with a different sample of this outlet's articles, not whether the "
        "labels are right.</li>"
        "<li>“vs. all other outlets” tests whether the outlet's label shares differ from those of all other outlets "
        "in the language pooled (flagged outlets included in the pool); the statistic is the total variation distance "
        "(TVD): half the summed absolute differences in label shares, in percentage points. The p-value comes from "
        "reassigning whole articles to outlets at random"
        + (f" within {_e(stratify)} strata" if stratify else "")
        + f" ({_permutations_text(report)} permutations), then Holm's correction over the tests in the language.</li>"
        "<li>“No difference shown” is not “the same”: with few articles, real differences go undetected.</li>"
        "<li>The labels are a model's output unless stated otherwise: its errors can differ by outlet. When gold labels "
        "are present, the last table of each language shows how far they move each outlet's numbers.</li>"
        "<li>“Corrected for the model's errors” estimates the shares as if every sentence were labelled right, from how "
        "often the model confuses each label on labelled sentences; it corrects the model's average errors, not an "
        "outlet's own, and its intervals also count the chance in those error rates.</li></ul>"
        "</body></html>"
    )
    return "".join(parts)


def _permutations_text(report: dict) -> str:
    counts = sorted({n for s in report["languages"].values() for n in s["permutations"].values()})
    return " to ".join(str(n) for n in (counts[0], counts[-1])) if len(counts) > 1 else str(counts[0] if counts else 0)


# ---------------------------------------------------------------------------------------------
# CSV and JSON


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with atomic_open(path) as fh:
        # A byte-order mark, or Excel reads the UTF-8 as the local code page and garbles Arabic.
        fh.write("\ufeff")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else (f"{v:.6g}" if isinstance(v, float) else safe_csv_cell(v)) for v in row])


def _ci(ci: Sequence[float] | None, i: int) -> float | None:
    return None if ci is None else ci[i]


def outlet_rows(report: dict) -> tuple[list[str], list[list[object]]]:
    stratified = bool(report["settings"]["stratify"])
    header = ["lang", "outlet", "articles", "sentences", "eligible", "flag", "rank"]
    for label in LABELS:
        header += [f"{label}_share", f"{label}_lo", f"{label}_hi"]
    header += ["sourcing_index", "sourcing_index_lo", "sourcing_index_hi"]
    if stratified:
        for label in LABELS:
            header += [f"std_{label}_share", f"std_{label}_lo", f"std_{label}_hi"]
        header += ["std_sourcing_index", "std_sourcing_index_lo", "std_sourcing_index_hi", "std_coverage"]
    header += ["vs_rest_tvd", "vs_rest_p", "vs_rest_p_holm", "vs_rest_significant"]
    header += ["correction"]
    for label in LABELS:
        header += [f"corrected_{label}_share", f"corrected_{label}_lo", f"corrected_{label}_hi"]
    header += ["corrected_sourcing_index", "corrected_sourcing_index_lo", "corrected_sourcing_index_hi", "corrected_clipped"]
    if stratified:
        for label in LABELS:
            header += [f"corrected_std_{label}_share", f"corrected_std_{label}_lo", f"corrected_std_{label}_hi"]
        header += ["corrected_std_sourcing_index", "corrected_std_sourcing_index_lo", "corrected_std_sourcing_index_hi"]
    rows = []
    for lang, section in report["languages"].items():
        for r in section["outlets"]:
            row: list[object] = [lang, r["outlet"], r["n_articles"], r["n_sentences"], r["eligible"], r["flag"], r["rank"]]
            for label in LABELS:
                ci = r["share_ci"][label] if r["share_ci"] else None
                row += [r["shares"][label], _ci(ci, 0), _ci(ci, 1)]
            row += [r["index"], _ci(r["index_ci"], 0), _ci(r["index_ci"], 1)]
            if stratified:
                for label in LABELS:
                    ci = r["std_share_ci"][label] if r["std_share_ci"] else None
                    row += [r["std_shares"][label], _ci(ci, 0), _ci(ci, 1)]
                row += [r["std_index"], _ci(r["std_index_ci"], 0), _ci(r["std_index_ci"], 1), r["std_coverage"]]
            t = r["vs_rest"]
            row += [t["statistic"], t["p"], t["p_holm"], t["significant"]] if t else [None] * 4
            row += _corrected_cells(r.get("corrected"), section["correction"], stratified)
            rows.append(row)
    return header, rows


def _corrected_cells(fixed: dict | None, correction: dict, stratified: bool) -> list[object]:
    n = 3 * len(LABELS) + 4 + (3 * len(LABELS) + 3 if stratified else 0)
    if fixed is None:
        return [None] * (n + 1)
    cells: list[object] = [correction["method"]]
    prefixes = ["", "std_"] if stratified else [""]
    for prefix in prefixes:
        for label in LABELS:
            ci = fixed[f"{prefix}share_ci"][label] if fixed[f"{prefix}share_ci"] else None
            cells += [fixed[f"{prefix}shares"][label], _ci(ci, 0), _ci(ci, 1)]
        cells += [fixed[f"{prefix}index"], _ci(fixed[f"{prefix}index_ci"], 0), _ci(fixed[f"{prefix}index_ci"], 1)]
        if prefix == "":
            cells.append(fixed["clipped"])
    return cells


def comparison_rows(report: dict) -> tuple[list[str], list[list[object]]]:
    header = ["lang", "kind", "a", "b", "tvd", "p", "p_holm", "significant", "shared_strata", "arrangements"]
    header += ["permutations", "note"]
    rows = []
    for lang, section in report["languages"].items():
        for r in section["outlets"]:
            t = r["vs_rest"]
            if t:
                stats = [t["statistic"], t["p"], t["p_holm"], t["significant"], t["shared_strata"], t["arrangements"]]
                rows.append([lang, "vs_rest", r["outlet"], REST_NAME, *stats, section["permutations"]["vs_rest"], None])
            elif r["eligible"] and r.get("vs_rest_note"):
                rows.append([lang, "vs_rest", r["outlet"], REST_NAME, *[None] * 7, r["vs_rest_note"]])
        for p in section["pairwise"]:
            if "p" in p:
                stats = [p["statistic"], p["p"], p["p_holm"], p["significant"], p["shared_strata"], p["arrangements"]]
                rows.append([lang, "pair", p["a"], p["b"], *stats, section["permutations"]["pairwise"], None])
            else:
                rows.append([lang, "pair", p["a"], p["b"], *[None] * 7, p.get("note")])
    return header, rows


def source_type_rows(report: dict) -> tuple[list[str], list[list[object]]]:
    header = ["lang", "outlet", "source_type", "count", "share", "typed_sentences"]
    rows = []
    for lang, section in report["languages"].items():
        for r in section["outlets"]:
            st = r["source_types"]
            for t, n in st["counts"].items():
                rows.append([lang, r["outlet"], t, n, st["shares"][t], st["n"]])
    return header, rows


def gold_rows(report: dict) -> tuple[list[str], list[list[object]]]:
    header = ["lang", "outlet"]
    for label in LABELS:
        header += [f"{label}_predicted", f"{label}_gold", f"{label}_abs_diff"]
    header += ["index_predicted", "index_gold", "index_diff", "index_diff_lo", "index_diff_hi"]
    header += ["mean_abs_diff"] + [f"{label}_corrected" for label in LABELS] + ["index_corrected", "corrected_mean_abs_diff"]
    rows = []
    for lang, section in report["languages"].items():
        for r in section["outlets"]:
            g = r["gold"]
            row: list[object] = [lang, r["outlet"]]
            for label in LABELS:
                row += [g["predicted_shares"][label], g["gold_shares"][label], g["abs_diff"][label]]
            row += [g["predicted_index"], g["gold_index"], g["index_diff"]]
            row += [_ci(g["index_diff_ci"], 0), _ci(g["index_diff_ci"], 1), g["mean_abs_diff"]]
            if "corrected_shares" in g:
                row += [g["corrected_shares"][label] for label in LABELS]
                row += [g["corrected_index"], g["corrected_mean_abs_diff"]]
            else:
                row += [None] * (len(LABELS) + 2)
            rows.append(row)
    return header, rows


def write_report(report: dict, out_dir: Path, inputs: Sequence[str] = ()) -> dict[str, Path]:
    """Every output file, each written atomically; returns what was written."""
    out_dir = Path(out_dir)
    written = {name: out_dir / FILES[name] for name in ("html", "json", "outlets", "comparisons", "source_types")}
    write_text_atomic(written["html"], render_html(report, inputs))
    write_json_atomic(written["json"], {"inputs": list(inputs), **report})
    _write_csv(written["outlets"], *outlet_rows(report))
    _write_csv(written["comparisons"], *comparison_rows(report))
    _write_csv(written["source_types"], *source_type_rows(report))
    if report["has_gold"]:
        written["gold"] = out_dir / FILES["gold"]
        _write_csv(written["gold"], *gold_rows(report))
    return written


# ---------------------------------------------------------------------------------------------
# Terminal


def _short_pct_ci(ci: Sequence[float] | None) -> str:
    return "" if ci is None else f"{100 * ci[0]:.0f}–{100 * ci[1]:.0f}"


def _short_idx_ci(ci: Sequence[float] | None) -> str:
    return "" if ci is None else f"{ci[0]:.2f}…{ci[1]:.2f}"


def _corrected_terminal(report: dict, section: dict, level: int):
    from rich import box
    from rich.table import Table
    from rich.text import Text

    correction = section["correction"]
    if not correction["applied"]:
        return Text(f"Corrected shares: none ({correction['reason']}).", style="dim")
    std = "std_" if report["settings"]["stratify"] else ""
    largest = _largest_error(correction)
    table = Table(
        title=f"Corrected for the model's errors ({correction['method']})",
        caption=(
            (f"On {correction['stability']['calibration_rows']} labelled sentences {largest}. " if largest else "")
            + f"% of sentences if every label were right; second line: {level}% interval (articles and error rates resampled)"
        ),
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
    )
    table.add_column("outlet", overflow="fold", min_width=16, max_width=22)
    for label in LABELS:
        table.add_column(TERMINAL_SHORT[label], justify="right", no_wrap=True)
    table.add_column("sourcing", justify="right", no_wrap=True)
    for entry in [*section["outlets"], {**section["pooled"], "outlet": POOLED_NAME, "eligible": True}]:
        fixed = entry["corrected"]
        ci = fixed[f"{std}share_ci"]
        cells = [entry["outlet"] + (" [dim](clipped)[/]" if fixed["clipped"] else "")]
        cells += [
            f"{100 * fixed[f'{std}shares'][label]:.0f}%\n[dim]{_short_pct_ci(ci[label] if ci else None)}[/]" for label in LABELS
        ]
        cells.append(f"{_idx(fixed[f'{std}index'])}\n[dim]{_short_idx_ci(fixed[f'{std}index_ci'])}[/]")
        table.add_row(*cells, style="dim" if not entry["eligible"] else None)
    return table


def render_terminal(report: dict):
    """Rich renderables: one table per language, then the pairwise differences and the gold check.
    Compact enough for an 80-column terminal; the HTML report has the full numbers."""
    from rich import box
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    stratify = report["settings"]["stratify"]
    level = round(100 * report["settings"]["confidence"])
    colours = {"attributed_fact": "green", "analyst_claim": "magenta", "unattributed_assertion": "yellow", "other": "dim"}
    parts: list = []
    for lang, section in report["languages"].items():
        counted = f"{section['n_outlets']} outlets, {section['n_articles']} articles, {section['n_sentences']} sentences"
        title = f"{escape(lang)}: {counted}"
        mix = f" standardised to the common {stratify} mix" if stratify else ""
        table = Table(
            title=title,
            caption=f"% of sentences{mix}; second line: {level}% interval from resampling articles",
            box=box.SIMPLE_HEAD,
            padding=(0, 1),
        )
        table.add_column("outlet", overflow="fold", min_width=16, max_width=22)
        for label in LABELS:
            table.add_column(Text(TERMINAL_SHORT[label], style=colours[label]), justify="right", no_wrap=True)
        table.add_column("sourcing", justify="right", no_wrap=True)
        table.add_column("vs others", justify="right", min_width=9)
        for entry in [*section["outlets"], {**section["pooled"], "outlet": POOLED_NAME, "eligible": True, "pooled": True}]:
            values, ci, index, index_ci = _view(report, entry)
            pooled = entry.get("pooled", False)
            n_art = section["n_articles"] if pooled else entry["n_articles"]
            n_sent = section["n_sentences"] if pooled else entry["n_sentences"]
            cells = [f"{escape(str(entry['outlet']))}\n[dim]{n_art} art, {n_sent} sent[/]"]  # a name is data, not markup
            cells += [f"{100 * values[label]:.0f}%\n[dim]{_short_pct_ci(ci[label] if ci else None)}[/]" for label in LABELS]
            cells += [f"{_idx(index)}\n[dim]{_short_idx_ci(index_ci)}[/]"]
            test = entry.get("vs_rest")
            if pooled:
                cells.append("")
            elif not entry["eligible"]:
                cells.append("[dim]too little\ndata[/]")
            elif test is None:
                cells.append("not tested")
            else:
                mark = "[bold red]differs[/]" if test["significant"] else "[dim]not shown[/]"
                cells.append(f"p {_p(test['p_holm'])}\n{mark}")
            table.add_row(*cells, style="dim" if not entry["eligible"] else None)
        parts.append(table)
        parts.append(_corrected_terminal(report, section, level))
        flagged = [r for r in section["outlets"] if not r["eligible"]]
        lines = [f"{r['outlet']}: {r['flag']}" for r in flagged]
        significant = [p for p in section["pairwise"] if p.get("significant")]
        n_tested = sum(1 for p in section["pairwise"] if "p" in p)
        lines.append(f"{len(significant)} of {n_tested} outlet pairs differ (Holm, α = {report['settings']['alpha']})")
        lines += [f"  {p['a']} ≠ {p['b']}: TVD {100 * p['statistic']:.1f} pts, p {_p(p['p_holm'])}" for p in significant]
        parts.append(Text("\n".join(lines)))
        if section.get("gold_summary"):
            parts.append(Text("Predicted vs gold: " + section["gold_summary"]["statement"]))
        for note in section["notes"]:
            parts.append(Text(f"note: {note}", style="dim"))
        parts.append(Text(""))
    return Group(*parts)
