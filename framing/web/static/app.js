// The article page: sends the text or file to /api/classify and draws the answer.
// User text is only ever put into the page with textContent, never as HTML.
"use strict";

const NAMES = {
  attributed_fact: "Attributed fact",
  analyst_claim: "Analyst claim",
  unattributed_assertion: "Unattributed assertion",
  other: "Other",
};
let LABELS = Object.keys(NAMES);
let lastResult = null;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

const pct = (x) => `${Math.round(x * 100)}%`;

function dirOf(lang) {
  if (lang === "ar" || lang === "fa" || lang === "ur" || lang === "he") return "rtl";
  if (lang === "und" || !lang) return "auto";
  return "ltr";
}

// ---------- legend and limits ----------

async function loadInfo() {
  try {
    const response = await fetch("/api/info");
    const info = await response.json();
    LABELS = info.labels.map((l) => l.name);
    const list = $("legend-list");
    list.replaceChildren();
    for (const { name, definition } of info.labels) {
      const item = el(
        "li",
        { class: "legend-item", "data-label": name, tabindex: "0", role: "button", "aria-pressed": "false" },
        el("span", { class: `swatch lab-${name}`, "aria-hidden": "true" }),
        el("strong", { text: NAMES[name] || name }),
        el("code", { text: name }),
        el("span", { class: "definition", text: definition }),
      );
      item.addEventListener("click", () => toggleFocus(name));
      item.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          toggleFocus(name);
        }
      });
      list.append(item);
    }
    $("limit").textContent = ` Up to ${(info.max_bytes / 1048576).toFixed(1)} MB.`;
  } catch (err) {
    showError("Could not reach the framing server. Is `framing serve` still running?");
  }
}

function toggleFocus(label) {
  const articles = $("articles");
  const current = articles.dataset.focus || "";
  const next = current === label ? "" : label;
  articles.dataset.focus = next;
  for (const item of document.querySelectorAll(".legend-item")) {
    item.setAttribute("aria-pressed", String(item.dataset.label === next));
  }
}

// ---------- submitting ----------

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function submit(event) {
  event.preventDefault();
  showError("");
  const form = new FormData();
  const file = $("file").files[0];
  const text = $("text").value;
  if (file) {
    form.append("file", file, file.name);
    form.append("mode", $("mode").value);
  } else if (text.trim()) {
    form.append("text", text);
  } else {
    showError("Nothing to classify: paste an article's text or choose a file.");
    return;
  }
  const button = $("go");
  button.disabled = true;
  const started = Date.now();
  const status = $("status");
  status.textContent = "Classifying…";
  const timer = setInterval(() => {
    status.textContent = `Classifying… ${Math.round((Date.now() - started) / 1000)} s`;
  }, 1000);
  try {
    const response = await fetch("/api/classify", { method: "POST", body: form });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (!response.ok) {
      const detail = body && typeof body.detail === "string" ? body.detail : `The server answered ${response.status}.`;
      showError(detail);
      status.textContent = "";
      return;
    }
    render(body);
    status.textContent = `Done in ${((Date.now() - started) / 1000).toFixed(1)} s.`;
  } catch (err) {
    showError("Could not reach the framing server. Is `framing serve` still running?");
    status.textContent = "";
  } finally {
    clearInterval(timer);
    button.disabled = false;
  }
}

// ---------- drawing results ----------

function shareBar(counts, shares, caption) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const summary = LABELS.map((l) => `${NAMES[l] || l} ${pct(shares[l] || 0)}`).join(", ");
  const bar = el("div", { class: "bar", role: "img", "aria-label": `${caption}: ${summary}` });
  for (const label of LABELS) {
    const share = shares[label] || 0;
    if (!counts[label]) continue;
    const seg = el("div", {
      class: `seg lab-${label}`,
      "data-label": label,
      title: `${NAMES[label] || label}: ${counts[label]} of ${total} sentences (${pct(share)})`,
    });
    seg.style.width = `${share * 100}%`;
    if (share >= 0.08) seg.textContent = pct(share);
    bar.append(seg);
  }
  const keys = el("ul", { class: "bar-keys" });
  for (const label of LABELS) {
    keys.append(
      el(
        "li",
        {},
        el("span", { class: `swatch lab-${label}`, "aria-hidden": "true" }),
        `${NAMES[label] || label}: ${counts[label] || 0} (${pct(shares[label] || 0)})`,
      ),
    );
  }
  return el("div", { class: "share" }, el("div", { class: "bar-caption", text: caption }), bar, keys);
}

function sentenceNode(article, sentence) {
  const node = el("span", {
    class: `sent lab-${sentence.label}`,
    "data-label": sentence.label,
    "data-index": String(sentence.index),
    lang: sentence.lang && sentence.lang !== "und" ? sentence.lang : null,
    dir: dirOf(sentence.lang),
    tabindex: "0",
  });
  // Offsets count Unicode code points (as Python does); Array.from splits a string the same way.
  const chars = Array.from(sentence.text);
  let at = 0;
  for (const span of sentence.source_spans || []) {
    if (span.start > at) node.append(chars.slice(at, span.start).join(""));
    node.append(el("mark", { class: "source", text: chars.slice(span.start, span.end).join("") }));
    at = span.end;
  }
  if (at < chars.length) node.append(chars.slice(at).join(""));
  node._sentence = sentence;
  return node;
}

function paragraphDir(sentences) {
  const langs = sentences.map((s) => s.lang);
  const ar = langs.filter((l) => dirOf(l) === "rtl").length;
  const ltr = langs.filter((l) => dirOf(l) === "ltr").length;
  if (ar === 0 && ltr === 0) return "auto";
  return ar > ltr ? "rtl" : "ltr";
}

function articleBody(article) {
  const chars = Array.from(article.text);
  const body = el("div", { class: "article-body" });
  let paragraph = [];
  let pending = []; // nodes of the current paragraph
  const flush = () => {
    if (!pending.length) return;
    const dir = paragraphDir(paragraph);
    const langs = new Set(paragraph.map((s) => s.lang));
    const lang = langs.size === 1 ? [...langs][0] : null;
    const p = el("p", { dir, lang: lang && lang !== "und" ? lang : null });
    p.append(...pending);
    body.append(p);
    paragraph = [];
    pending = [];
  };
  let at = 0;
  for (const sentence of article.sentences) {
    const gap = chars.slice(at, sentence.start).join("");
    // Sentences never cross a line break, so line breaks between them are the paragraphs.
    if (/[\n\r\u2028\u2029]/.test(gap)) flush();
    else if (gap && pending.length) pending.push(gap);
    paragraph.push(sentence);
    pending.push(sentenceNode(article, sentence));
    at = sentence.end;
  }
  flush();
  return body;
}

function articleNode(article, many) {
  const section = el("article", { class: "panel article", "data-article": article.id });
  const metaBits = [];
  for (const key of ["outlet", "title", "date", "url", "lang"]) {
    if (article.meta && typeof article.meta[key] === "string") metaBits.push(`${key}: ${article.meta[key]}`);
  }
  // With one article the result's heading already names it.
  if (many) section.append(el("h3", { text: article.id }));
  if (metaBits.length) section.append(el("p", { class: "hint meta", text: metaBits.join(" · ") }));
  section.append(
    shareBar(article.counts, article.shares, `Label shares in this article (${article.sentences.length} sentences)`),
    articleBody(article),
  );
  return section;
}

function render(result) {
  lastResult = result;
  $("empty").hidden = true;
  $("result-summary").hidden = false;
  $("result-title").textContent = result.name;
  const n = result.articles.length;
  $("result-counts").textContent =
    `${n} article${n === 1 ? "" : "s"}, ${result.n_sentences} sentence${result.n_sentences === 1 ? "" : "s"}` +
    (result.kind === "jsonl" ? ` (each line read as ${result.mode === "sentences" ? "a sentence" : "an article"})` : "") +
    ". Hover over or tab to a sentence to see its probabilities.";
  $("overall-bar").replaceChildren(
    n > 1 ? shareBar(result.counts, result.shares, "Label shares over all articles") : el("span"),
  );
  const skipped = $("skipped");
  if (result.skipped.length) {
    skipped.hidden = false;
    skipped.textContent =
      `${result.skipped.length} row(s) had nothing to classify: ` +
      result.skipped.map((s) => `line ${s.line} (${s.error})`).join("; ");
  } else {
    skipped.hidden = true;
  }
  const container = $("articles");
  container.replaceChildren(...result.articles.map((a) => articleNode(a, n > 1)));
  $("results").scrollIntoView({ behavior: "smooth", block: "start" });
}

// ---------- tooltip ----------

function showTooltip(target) {
  const sentence = target._sentence;
  if (!sentence) return;
  const tip = $("tooltip");
  const rows = [...LABELS].sort((a, b) => (sentence.scores[b] || 0) - (sentence.scores[a] || 0));
  const table = el("table", {});
  for (const label of rows) {
    const p = sentence.scores[label] || 0;
    const meter = el("span", { class: `meter lab-${label}` });
    meter.style.width = `${Math.max(1, p * 100)}%`;
    table.append(
      el(
        "tr",
        { class: label === sentence.label ? "chosen" : null },
        el("th", { text: label }),
        el("td", { class: "num", text: p.toFixed(2) }),
        el("td", { class: "meter-cell" }, meter),
      ),
    );
  }
  tip.replaceChildren(
    el("div", { class: "tip-head", text: `${NAMES[sentence.label] || sentence.label} · ${sentence.lang}` }),
    table,
  );
  if (sentence.source) {
    const kind = sentence.source_type ? ` · ${sentence.source_type} (${sentence.source_type_p.toFixed(2)})` : "";
    const named = sentence.source_named === null || sentence.source_named === undefined ? "" : sentence.source_named ? " · named" : " · generic";
    tip.append(el("div", { class: "tip-note", text: `source: ${sentence.source}${kind}${named}` }));
  }
  if (sentence.vague_attribution) tip.append(el("div", { class: "tip-note", text: "vague attribution" }));
  if (sentence.given_source) tip.append(el("div", { class: "tip-note", text: `source in the file: ${sentence.given_source}` }));
  if (sentence.given_label && sentence.given_label !== sentence.label) {
    tip.append(el("div", { class: "tip-note", text: `label in the file: ${sentence.given_label}` }));
  }
  tip.hidden = false;
  const box = target.getBoundingClientRect();
  const tipBox = tip.getBoundingClientRect();
  let top = window.scrollY + box.bottom + 6;
  if (box.bottom + tipBox.height + 12 > window.innerHeight) top = window.scrollY + box.top - tipBox.height - 6;
  // Anchor at the sentence's start: its left edge, or its right edge in right-to-left text.
  const anchor = target.closest("[dir='rtl']") ? box.right - tipBox.width : box.left;
  const left = window.scrollX + Math.min(Math.max(8, anchor), window.innerWidth - tipBox.width - 8);
  tip.style.top = `${Math.max(window.scrollY + 4, top)}px`;
  tip.style.left = `${left}px`;
  target.setAttribute("aria-describedby", "tooltip");
}

function hideTooltip(target) {
  $("tooltip").hidden = true;
  if (target) target.removeAttribute("aria-describedby");
}

// ---------- downloads ----------

function exportRows(result) {
  const rows = [];
  for (const article of result.articles) {
    for (const s of article.sentences) {
      if (result.mode === "sentences") {
        rows.push({ ...s.meta, text: s.text, lang: s.lang, label: s.label, scores: s.scores });
      } else {
        // The same shape as `framing classify -o` writes for articles.
        rows.push({
          ...article.meta,
          article: article.id,
          sentence: s.index,
          start: s.start,
          end: s.end,
          text: s.text,
          lang: s.lang,
          label: s.label,
          scores: s.scores,
        });
      }
    }
  }
  return rows;
}

function csvCell(value) {
  let text = value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : String(value);
  // A text cell starting with = + - @ (or tab, CR) is a formula to spreadsheet programs: an outlet
  // or sentence such as =HYPERLINK(...) must stay text (framing.files.safe_csv_cell does the same).
  if (typeof value !== "number" && /^[=+\-@\t\r]/.test(text)) text = "'" + text;
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function toCsv(result) {
  const header = [
    "article", "sentence", "start", "end", "lang", "label", ...LABELS.map((l) => `p_${l}`), "text", "source",
    "source_type", "source_named", "vague_attribution",
  ];
  const lines = [header.join(",")];
  for (const article of result.articles) {
    for (const s of article.sentences) {
      const sources = (s.source_spans || []).map((sp) => Array.from(s.text).slice(sp.start, sp.end).join(""));
      lines.push(
        [
          article.id, s.index, s.start, s.end, s.lang, s.label, ...LABELS.map((l) => s.scores[l]), s.text,
          s.source || s.given_source || sources.join(" | "), s.source_type, s.source_named, s.vague_attribution,
        ]
          .map(csvCell)
          .join(","),
      );
    }
  }
  // The byte-order mark makes spreadsheet programs read the file as UTF-8, so Arabic survives.
  return "\ufeff" + lines.join("\r\n") + "\r\n";
}

function download(content, type, suffix) {
  if (!lastResult) return;
  const base = lastResult.name.replace(/\.[^.]*$/, "").replace(/[^\w\u0600-\u06ff.-]+/g, "_") || "article";
  const url = URL.createObjectURL(new Blob([content], { type }));
  const link = el("a", { href: url, download: `${base}.framing.${suffix}` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ---------- wiring ----------

document.addEventListener("DOMContentLoaded", () => {
  loadInfo();
  $("input-form").addEventListener("submit", submit);
  $("clear").addEventListener("click", () => {
    $("text").value = "";
    $("file").value = "";
    showError("");
    $("status").textContent = "";
  });
  $("file").addEventListener("change", () => {
    if ($("file").files.length) $("status").textContent = `File chosen: ${$("file").files[0].name}; the pasted text is ignored.`;
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("dragging");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("dragging");
    if (e.dataTransfer.files.length) {
      $("file").files = e.dataTransfer.files;
      $("file").dispatchEvent(new Event("change"));
    }
  });
  $("dl-jsonl").addEventListener("click", () =>
    download(exportRows(lastResult).map((r) => JSON.stringify(r)).join("\n") + "\n", "application/x-ndjson", "jsonl"),
  );
  $("dl-csv").addEventListener("click", () => download(toCsv(lastResult), "text/csv;charset=utf-8", "csv"));
  const articles = $("articles");
  articles.addEventListener("mouseover", (e) => {
    const target = e.target.closest(".sent");
    if (target) showTooltip(target);
  });
  articles.addEventListener("mouseout", (e) => {
    const target = e.target.closest(".sent");
    if (target && !target.contains(e.relatedTarget)) hideTooltip(target);
  });
  articles.addEventListener("focusin", (e) => {
    if (e.target.classList.contains("sent")) showTooltip(e.target);
  });
  articles.addEventListener("focusout", (e) => {
    if (e.target.classList.contains("sent")) hideTooltip(e.target);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") hideTooltip(null);
  });
});
