"""Classification throughput, memory, start-up time and macro-F1: a transformers pipeline against our int8 ONNX path.

    python bench/bench_classify.py --model /tmp/runs/quick            # writes bench/results.json
    python bench/bench_classify.py --model M --paths baseline,onnx_int8 --sentences 1000

Input: the corpus test split (data/test.jsonl, else /tmp/partial/test.jsonl; rows have text,
article, lang, label), repeated in order to --sentences rows; macro-F1 is computed on the first
pass over it, i.e. the whole test split (or its first --sentences rows, if fewer).

Paths, each in its own fresh subprocess so that peak RSS (getrusage ru_maxrss) and the start-up
time are those of a process doing only that:

- baseline: what a user would write: `transformers.pipeline("text-classification")` over the
  same fine-tuned weights (an adapter merged into its base) in torch fp32, called on the list of
  sentences with the pipeline's defaults (one sentence per forward pass), no context sentence. It
  does add the e5 "query: " prefix, without which the model is out of distribution and the F1
  comparison would be unfair.
- baseline_batch8: the same pipeline with batch_size=8 (input order, each batch padded to its
  longest sentence). Speed-ups are reported against the faster of the two baselines.
- torch_sorted: `FramingClassifier.from_pretrained(M, backend="torch")` (torch fp32, context,
  length-sorted batches of 32, dynamic padding): the fp32 reference for macro-F1.
- onnx_fp32: the same classifier with backend="onnx-fp32".
- onnx_int8: our default path, `FramingClassifier.from_pretrained(M)`: int8 ONNX, each sentence
  run alone without its padding (row_by_row), which makes int8 results independent of batching.
- onnx_int8_batched: the same int8 model on the length-sorted, padded batches of 32.
- onnx_int8_rows_in_turn: row by row as the default, but one row at a time with two intra-op
  threads, as before rows ran one per core; not in the default set (--paths to add it).

Time to first prediction is from just before the subprocess is spawned (so it includes Python
start-up and imports) to one sentence classified, with the ONNX conversion already cached
("conversions" in the JSON: seconds of `OnnxLogits.from_folder` beforehand, a conversion only if
the cache was cold). The script also runs bench/matmul_peak.py at the matmul shapes the ONNX
paths run and reports what fraction of that measured throughput each path reaches.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

PATHS = (
    "baseline",
    "baseline_batch8",
    "torch_sorted",
    "onnx_fp32",
    "onnx_int8",
    "onnx_int8_batched",
    "onnx_int8_rows_in_turn",
)
#: The pipeline's own default (one text per forward pass), and the batch size its docs suggest trying.
BASELINE_BATCHES = {"baseline": 1, "baseline_batch8": 8}
SORTED_BATCH = 32


def encoder_flops(tokens: float, hidden: int, ffn: int, layers: int) -> float:
    """Matmul FLOPs (2 per multiply-add) of the encoder on one sequence of `tokens` tokens."""
    projections = 4 * tokens * hidden * hidden * 2
    feed_forward = 2 * tokens * hidden * ffn * 2
    attention = 2 * tokens * tokens * hidden * 2
    return layers * (projections + feed_forward + attention)


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --------------------------------------------------------------------------------------------- workers


class TimedRunner:
    """Wraps `OnnxLogits`: seconds in the model, and tokens computed, over the calls since the last `stats`."""

    def __init__(self, runner, row_by_row: bool) -> None:
        from framing.model.onnx_backend import OnnxLogits

        self.runner = runner if runner.row_by_row == row_by_row else OnnxLogits(runner.path, row_by_row=row_by_row)
        self.path, self.row_by_row = runner.path, row_by_row
        self.seconds, self.padded_tokens, self.real_tokens = 0.0, 0, 0

    def __call__(self, batch):
        start = time.perf_counter()
        logits = self.runner(batch)
        self.seconds += time.perf_counter() - start
        real = int(batch["attention_mask"].sum())
        self.real_tokens += real
        # Row by row runs each sentence without its padding.
        self.padded_tokens += real if self.row_by_row else int(batch["input_ids"].size)
        return logits

    def stats(self, total_seconds: float) -> dict:
        result = {
            "tokenize_seconds": total_seconds - self.seconds,
            "model_seconds": self.seconds,
            "padded_tokens": self.padded_tokens,
            "real_tokens": self.real_tokens,
        }
        self.seconds, self.padded_tokens, self.real_tokens = 0.0, 0, 0
        return result


def worker(path: str, model_dir: Path, input_file: Path, result_file: Path) -> None:
    """One path in a fresh process: load, classify one sentence, then all of them."""
    import numpy as np

    data = json.loads(input_file.read_text(encoding="utf-8"))
    texts, contexts = data["texts"], data["contexts"]
    load_start = time.time()
    stats: dict = {}

    if path in BASELINE_BATCHES:
        from transformers import pipeline
        from transformers.utils import logging as transformers_logging

        from framing.model.classifier import FramingClassifier
        from framing.model.labels import LABEL2ID

        # The same fine-tuned weights (an adapter is merged into its base), run the way the
        # transformers docs show: a text-classification pipeline, batches in input order. The
        # pipeline logs (as an error) that our head class is not in its registry; it runs it all the same.
        transformers_logging.set_verbosity(transformers_logging.CRITICAL)
        transformers_logging.disable_progress_bar()
        loaded_model = FramingClassifier.from_pretrained(model_dir, backend="torch")
        settings = loaded_model.settings
        classify_pipeline = pipeline(
            "text-classification", model=loaded_model.model, tokenizer=loaded_model.tokenizer, device="cpu"
        )

        def classify(batch_texts: list[str], _contexts: list) -> np.ndarray:
            # e5's "query: " prefix (the model card says so); without it the F1 comparison is unfair.
            prefixed = [settings.prefix + t for t in batch_texts]
            batch = BASELINE_BATCHES[path]
            outputs = classify_pipeline(prefixed, batch_size=batch, truncation=True, max_length=settings.max_length)
            lengths = [
                len(ids) for ids in loaded_model.tokenizer(prefixed, truncation=True, max_length=settings.max_length)["input_ids"]
            ]
            padded = sum(len(lengths[b : b + batch]) * max(lengths[b : b + batch]) for b in range(0, len(lengths), batch))
            stats.update(padded_tokens=padded, real_tokens=sum(lengths))
            return np.array([LABEL2ID[out["label"]] for out in outputs])

    else:
        from framing.model.classifier import FramingClassifier

        backend = {"torch_sorted": "torch", "onnx_fp32": "onnx-fp32"}.get(path, "onnx")
        classifier = FramingClassifier.from_pretrained(model_dir, backend=backend)
        if classifier.onnx is not None:
            # Time the model calls inside the classifier's own loop (tokenising, sorting and
            # padding are the rest); int8 batched is the shipped runner with row_by_row off.
            classifier.onnx = TimedRunner(classifier.onnx, row_by_row=path != "onnx_int8_batched")
            if path == "onnx_int8_rows_in_turn":
                import onnxruntime as ort

                from framing.model.onnx_backend import session_options

                runner = classifier.onnx.runner
                runner.threads = 1  # rows in turn, each on a session with all cores as intra-op threads
                runner.session = ort.InferenceSession(str(runner.path), session_options(), providers=["CPUExecutionProvider"])

        def classify(batch_texts: list[str], batch_contexts: list) -> np.ndarray:
            start = time.perf_counter()
            labels = classifier.predict_logits(batch_texts, batch_contexts, batch_size=SORTED_BATCH).argmax(1)
            if isinstance(classifier.onnx, TimedRunner):
                stats.update(classifier.onnx.stats(time.perf_counter() - start))
            return labels

    loaded = time.time()
    classify(texts[:1], contexts[:1])
    first_prediction = time.time()
    rss_ready = _rss_mb()
    load_before = os.getloadavg()
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    labels = classify(texts, contexts)
    seconds = time.perf_counter() - start
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    result = {
        "path": path,
        "load_seconds": loaded - load_start,
        "first_prediction_at": first_prediction,
        "sentences": len(texts),
        "seconds": seconds,
        "sentences_per_second": len(texts) / seconds,
        # CPU seconds per wall second: 2.0 means both cores were ours throughout.
        "cores_used": cpu / seconds,
        "rss_ready_mb": rss_ready,
        "peak_rss_mb": usage_after.ru_maxrss / 1024,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "labels": labels.tolist(),
        **stats,
    }
    result_file.write_text(json.dumps(result), encoding="utf-8")


# --------------------------------------------------------------------------------------------- driver


def find_data(explicit: Path | None) -> Path:
    for candidate in (explicit, ROOT / "data" / "test.jsonl", Path("/tmp/partial/test.jsonl")):
        if candidate is not None and candidate.is_file():
            return candidate
    raise SystemExit("no test split: pass --data, or build data/test.jsonl")


def prepare_input(data: Path, sentences: int, folder: Path) -> tuple[Path, list[dict]]:
    from framing.training.data import load_corpus, with_context

    rows = load_corpus(data)
    repeated = (rows * (sentences // len(rows) + 1))[:sentences]
    # Contexts over the repeated list: each copy starts a new article, so every context is genuine.
    with_contexts = with_context(repeated)
    path = folder / "input.json"
    payload = {"texts": [r["text"] for r in with_contexts], "contexts": [r["context"] for r in with_contexts]}
    path.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return path, rows


def run_worker(path: str, model: Path, input_file: Path, folder: Path) -> dict:
    result_file = folder / f"{path}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", path, "--model", str(model)]
    command += ["--input", str(input_file), "--result", str(result_file)]
    spawned = time.time()
    subprocess.run(command, check=True, cwd=ROOT)
    result = json.loads(result_file.read_text(encoding="utf-8"))
    result["start_to_first_prediction_seconds"] = result.pop("first_prediction_at") - spawned
    return result


def convert_once(model: Path, precision: str) -> dict:
    """Convert (or find cached) in a separate process, so start-up timings see a warm cache."""
    code = (
        "import json, sys, time\n"
        "from framing.model.onnx_backend import OnnxLogits\n"
        "t = time.perf_counter(); runner = OnnxLogits.from_folder(sys.argv[1], precision=sys.argv[2])\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'file': str(runner.path), 'bytes': runner.path.stat().st_size}))\n"
    )
    command = [sys.executable, "-c", code, str(model), precision]
    out = subprocess.run(command, check=True, cwd=ROOT, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> dict:
    info = {"cpu": "unknown", "cores": os.cpu_count(), "memory_gb": None}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                info["cpu"] = value.strip()
            elif key.strip() == "Core(s) per socket":
                info["cores_per_socket"] = int(value)
            elif key.strip() == "Flags":
                info["int8_isa"] = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in value.split()]
    except (OSError, subprocess.CalledProcessError):
        pass
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        info["memory_gb"] = round(int(meminfo.readline().split()[1]) / 1024 / 1024, 1)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a fine-tuned model folder (config.json, model.safetensors, tokenizer)")
    parser.add_argument("--data", type=Path, help="labelled JSONL (default data/test.jsonl, else /tmp/partial/test.jsonl)")
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--paths", default=",".join(PATHS[:-1]), help=f"comma-separated, of {', '.join(PATHS)}")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--no-matmul", action="store_true", help="skip the matmul-throughput measurement")
    parser.add_argument("--worker", choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model is None:
        parser.error("--model is required")
    if args.worker:
        worker(args.worker, args.model, args.input, args.result)
        return

    from framing.model.labels import LABELS
    from framing.training.evaluate import macro_f1

    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = set(paths) - set(PATHS)
    if unknown:
        parser.error(f"unknown paths {sorted(unknown)}")
    data = find_data(args.data)
    config = json.loads((args.model / "config.json").read_text(encoding="utf-8"))
    report: dict = {
        "model": str(args.model.resolve()),
        "data": str(data),
        "machine": machine(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "conversions": {},
        "paths": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-classify-") as tmp:
        folder = Path(tmp)
        input_file, rows = prepare_input(data, args.sentences, folder)
        gold = [r["label"] for r in rows]
        for path in paths:
            precision = "fp32" if path == "onnx_fp32" else "int8"
            if path.startswith("onnx_") and precision not in report["conversions"]:
                report["conversions"][precision] = convert_once(args.model, precision)
        labels: dict[str, list[int]] = {}
        for path in paths:
            print(f"running {path} ...", flush=True)
            result = run_worker(path, args.model, input_file, folder)
            labels[path] = result.pop("labels")
            predicted = [LABELS[i] for i in labels[path][: len(gold)]]
            result["macro_f1_test"] = macro_f1(gold[: len(predicted)], predicted)
            result["f1_sentences"] = len(predicted)
            result["avg_real_tokens"] = result["real_tokens"] / result["sentences"] if "real_tokens" in result else None
            report["paths"][path] = result
    if "torch_sorted" in labels:
        reference = labels["torch_sorted"]
        for path, predicted in labels.items():
            same = sum(a == b for a, b in zip(predicted, reference, strict=True))
            report["paths"][path]["agreement_with_fp32_torch"] = same / len(reference)

    if not args.no_matmul:
        report["matmul_peak"] = matmul_peaks(report)
    report["flops"] = flops_report(report, config)
    base, reference = fastest_baseline(report), report["paths"].get("torch_sorted")
    ours = report["paths"].get("onnx_int8")
    if ours and base:
        report["baseline_for_speedup"] = base["path"]
        report["speedup_int8_over_baseline"] = ours["sentences_per_second"] / base["sentences_per_second"]
    if ours and reference:
        report["f1_int8_minus_fp32_torch"] = ours["macro_f1_test"] - reference["macro_f1_test"]
    report["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print_table(report)


def _gemm_rows(result: dict) -> int:
    """Activation rows of one matmul call on this path: a sentence alone, or a padded batch."""
    if result["path"] == "onnx_int8":
        return round(result["real_tokens"] / result["sentences"])
    return round(SORTED_BATCH * result["padded_tokens"] / result["sentences"])


def matmul_peaks(report: dict) -> dict:
    """bench/matmul_peak.py at the matmul shapes the ONNX paths run, keyed by activation rows."""
    peaks = {}
    for result in report["paths"].values():
        if "model_seconds" not in result or str(_gemm_rows(result)) in peaks:
            continue
        rows = _gemm_rows(result)
        handle, name = tempfile.mkstemp(suffix=".json")
        os.close(handle)
        subprocess.run([sys.executable, str(HERE / "matmul_peak.py"), "--tokens", str(rows), "--json", name], check=True)
        peaks[str(rows)] = json.loads(Path(name).read_text(encoding="utf-8"))
        Path(name).unlink()
    return peaks


def flops_report(report: dict, config: dict) -> dict:
    """Useful encoder FLOPs per second on each path, and the fraction of measured matmul throughput."""
    hidden, ffn, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    out: dict = {"formula": "layers x (4 L H^2 x 2 + 2 L H FF x 2 + 2 L^2 H x 2)", "paths": {}}
    for path, result in report["paths"].items():
        if not result.get("real_tokens"):
            continue
        tokens = result["real_tokens"] / result["sentences"]
        # At the mean length: attention's L^2 term is ~2% of the total, so mean(L^2) vs mean(L)^2 hardly matters.
        per_sentence = encoder_flops(tokens, hidden, ffn, layers)
        entry = {
            "avg_tokens": tokens,
            "avg_padded_tokens": result["padded_tokens"] / result["sentences"],
            "gflop_per_sentence_at_avg_tokens": per_sentence / 1e9,
            "achieved_gflops_end_to_end": per_sentence * result["sentences"] / result["seconds"] / 1e9,
        }
        if "model_seconds" in result:
            achieved = per_sentence * result["sentences"] / result["model_seconds"] / 1e9
            entry["achieved_gflops_model_only"] = achieved
            peak = report.get("matmul_peak", {}).get(str(_gemm_rows(result)))
            if peak:
                kernels = {k: v["gflops_layer_mix"] for k, v in peak["kernels"].items()}
                entry["gemm_rows"] = peak["tokens"]
                if path == "onnx_fp32":
                    best = max(kernels["torch_fp32"], kernels["numpy_fp32"], kernels["ort_fp32_MatMul"])
                    entry["fraction_of_best_fp32_matmul"] = achieved / best
                else:
                    entry["fraction_of_int8_MatMulInteger"] = achieved / kernels["ort_int8_MatMulInteger"]
                    entry["fraction_of_int8_DynamicQuantizeMatMul"] = achieved / kernels["ort_int8_DynamicQuantizeMatMul"]
        out["paths"][path] = entry
    return out


def fastest_baseline(report: dict) -> dict | None:
    """The faster of the measured pipeline baselines: speed-ups are claimed against the stronger one."""
    measured = [report["paths"][p] for p in BASELINE_BATCHES if p in report["paths"]]
    return max(measured, key=lambda r: r["sentences_per_second"], default=None)


def print_table(report: dict) -> None:
    m = report["machine"]
    print(f"\n{m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; load average at start {report['loadavg_start']}")
    print(f"model {report['model']}; data {report['data']}\n")
    header = f"{'path':18s} {'sent/s':>8s} {'x base':>7s} {'first pred s':>12s} {'peak RSS MB':>11s} {'macro-F1':>9s}"
    header += f" {'agree':>6s} {'cores':>6s}  load avg"
    print(header)
    print("-" * len(header))
    base = fastest_baseline(report)
    if base:
        print(f"(x base: against {base['path']}, the faster baseline)")
    for name, r in report["paths"].items():
        ratio = r["sentences_per_second"] / base["sentences_per_second"] if base else float("nan")
        print(
            f"{name:18s} {r['sentences_per_second']:8.1f} {ratio:7.2f} {r['start_to_first_prediction_seconds']:12.2f} "
            f"{r['peak_rss_mb']:11.0f} {r['macro_f1_test']:9.4f} {r.get('agreement_with_fp32_torch', float('nan')):6.3f} "
            f"{r['cores_used']:6.2f}  {r['loadavg_before'][0]:.2f}"
        )
    if "f1_int8_minus_fp32_torch" in report:
        delta = report["f1_int8_minus_fp32_torch"]
        print(f"\nmacro-F1 int8 ONNX - fp32 torch: {delta:+.4f} ({'within' if abs(delta) <= 0.005 else 'OUTSIDE'} 0.005)")
    for path, f in report.get("flops", {}).get("paths", {}).items():
        line = f"{path}: {f['gflop_per_sentence_at_avg_tokens']:.2f} GFLOP/sentence at {f['avg_tokens']:.1f} tokens"
        line += f" ({f['avg_padded_tokens']:.1f} padded); {f['achieved_gflops_end_to_end']:.0f} GFLOP/s end to end"
        if "achieved_gflops_model_only" in f:
            line += f", {f['achieved_gflops_model_only']:.0f} in the model"
        if "fraction_of_int8_MatMulInteger" in f:
            line += (
                f" = {100 * f['fraction_of_int8_MatMulInteger']:.1f}% of int8 MatMulInteger, "
                f"{100 * f['fraction_of_int8_DynamicQuantizeMatMul']:.1f}% of DynamicQuantizeMatMul at {f['gemm_rows']} rows"
            )
        if "fraction_of_best_fp32_matmul" in f:
            line += f" = {100 * f['fraction_of_best_fp32_matmul']:.1f}% of the best fp32 matmul at {f['gemm_rows']} rows"
        print(line)
    print(f"load average at end {report['loadavg_end']}")


if __name__ == "__main__":
    main()
