"""Start-up time of the shipped path, with the converted ONNX model already cached.

    python bench/startup.py                       # default model, 5 runs of each measurement
    python bench/startup.py --model M --runs 10

Three measurements, each in fresh processes, median and range over --runs:

- api: from spawning `python` to the first `FramingClassifier.from_pretrained(M).predict([...])`
  result (the issue's "start to first prediction"), with the time and resident memory (VmRSS,
  first run) after each step;
- api_article: the same to the first `classify_article()` result, which adds segmentation and
  language identification (lingua's models load on the first Latin-script line);
- cli: the whole `framing classify examples/article_en.txt -o OUT` command, wall clock.

The model is converted (or found in the cache) once before timing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARTICLE = ROOT / "examples" / "article_en.txt"

_API = """
import json, sys, time
spawned = float(sys.argv[2]); marks = {}; rss = {}
def mark(step):
    marks[step] = time.time() - spawned
    with open("/proc/self/status", encoding="ascii") as status:
        rss[step] = next(int(l.split()[1]) // 1024 for l in status if l.startswith("VmRSS:"))
from framing.model import FramingClassifier
mark("imported")
classifier = FramingClassifier.from_pretrained(sys.argv[1])
mark("loaded")
classifier.predict(["The ministry said on Tuesday that 40 trucks crossed the border."])
mark("first_prediction")
if sys.argv[3] == "article":
    classifier.classify_article(open(sys.argv[4], encoding="utf-8").read())
    mark("first_article")
marks["rss_mb"] = rss
marks["backend"] = classifier.backend
marks["heavy_modules"] = sorted(m for m in ("torch", "transformers") if m in sys.modules)
print(json.dumps(marks))
"""


def run_api(model: Path, article: bool) -> dict:
    spawned = time.time()
    command = [sys.executable, "-c", _API, str(model), repr(spawned), "article" if article else "-", str(ARTICLE)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_cli(model: Path, out: Path) -> float:
    framing = Path(sys.executable).with_name("framing")
    start = time.time()
    subprocess.run(
        [str(framing), "classify", str(ARTICLE), "--model", str(model), "-o", str(out)], check=True, capture_output=True
    )
    return time.time() - start


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "model" / "default")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from framing.model import FramingClassifier; FramingClassifier.from_pretrained(sys.argv[1])",
            str(args.model),
        ],
        cwd=ROOT,
        check=True,
    )
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    api = [run_api(args.model, article=False) for _ in range(args.runs)]
    article = [run_api(args.model, article=True) for _ in range(args.runs)]
    with tempfile.TemporaryDirectory() as tmp:
        cli = []
        for i in range(args.runs):
            cli.append(run_cli(args.model, Path(tmp) / f"out{i}.jsonl"))
    print(f"backend {api[0]['backend']}; torch/transformers imported: {api[0]['heavy_modules'] or 'neither'}")
    for step in ("imported", "loaded", "first_prediction"):
        print(f"api {step:17s} {summary([r[step] for r in api])}; RSS {api[0]['rss_mb'][step]} MB")
    article_rss = article[0]["rss_mb"]["first_article"]
    print(f"api first_article     {summary([r['first_article'] for r in article])}; RSS {article_rss} MB")
    print(f"cli whole command     {summary(cli)}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
