"""Load test of `framing serve`: 8 clients posting articles, one big request in the mix.

Starts the server (default model unless --model) in a subprocess, then for --seconds runs 8
client threads that each post one of the example articles again and again. Some seconds in,
one more client posts a big article (a 92 kB paste by default, about 700 sentences: the size
that once blocked small requests for 6 s behind the server's single lock) and, once, a paste at
the 2 MB limit (about 15,000 sentences, which must be refused at once with a 413, not held
for 147 s). Reports small-request latency (p50, p95, max) overall and while the big request
was in flight, the big request's own time, status counts, and the server's RSS over time.

    .venv/bin/python bench/load_test.py --seconds 60 --json bench/load_test.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [ROOT / "examples" / "article_en.txt", ROOT / "examples" / "article_ar.txt"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its children (the outlet report's), in MB."""
    total = 0
    for candidate in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{candidate}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


TIMEOUT = 60.0


def post(url: str, text: str) -> tuple[int | str, float]:
    """(HTTP status, or "timeout" past TIMEOUT seconds, and the seconds taken)."""
    body = urllib.parse.urlencode({"text": text}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            response.read()
            status: int | str = response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        status = exc.code
    except TimeoutError:
        status = "timeout"
    except urllib.error.URLError as exc:
        if not isinstance(exc.reason, TimeoutError):
            raise
        status = "timeout"
    return status, time.monotonic() - started


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the shipped model)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--big-kb", type=float, default=92, help="size of the big request")
    parser.add_argument("--big-at", type=float, default=10, help="seconds in when the big request is sent")
    parser.add_argument("--timeout", type=float, default=60, help="client timeout per request, in seconds")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    global TIMEOUT
    TIMEOUT = args.timeout

    port = free_port()
    command = [sys.executable, "-m", "framing.cli.app", "serve", "--port", str(port)]
    if args.model:
        command += ["--model", args.model]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/api/classify"
    try:
        for line in server.stdout:  # type: ignore[union-attr]
            if "is ready" in line:
                break
        else:
            raise SystemExit("the server did not start")
        threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()  # type: ignore[union-attr]
        texts = [p.read_text(encoding="utf-8") for p in EXAMPLES]
        for _ in range(600):  # "ready" is printed just before uvicorn starts listening
            try:
                post(url, texts[0])  # also warms up what the first request imports lazily
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)

        small: list[tuple[float, float, int]] = []  # (start, seconds, status)
        big: dict[str, float] = {}
        rss: list[tuple[float, float]] = []
        t0 = time.monotonic()
        stop = t0 + args.seconds
        lock = threading.Lock()

        def client(index: int) -> None:
            n = 0
            while time.monotonic() < stop:
                start = time.monotonic() - t0
                status, took = post(url, texts[(index + n) % len(texts)])
                with lock:
                    small.append((start, took, status))
                n += 1

        def big_client() -> None:
            time.sleep(args.big_at)
            article = "\n".join(texts)
            text = (article + "\n") * max(1, int(args.big_kb * 1024 / len(article.encode())))
            big["start"] = time.monotonic() - t0
            big["status"], big["seconds"] = post(url, text)
            big["bytes"] = len(text.encode())
            # English only: form-encoded, Arabic triples in size and would pass the byte limit first
            huge = (texts[0] + "\n") * int(1.8 * 1024 * 1024 / len(texts[0].encode()))
            try:
                big["limit_status"], big["limit_seconds"] = post(url, huge)
            except (urllib.error.URLError, ConnectionError) as exc:
                big["limit_status"], big["limit_seconds"] = f"connection: {exc}", float("nan")
            big["limit_bytes"] = len(huge.encode())

        def sample_rss() -> None:
            while time.monotonic() < stop + 1:
                rss.append((time.monotonic() - t0, rss_mb(server.pid)))
                time.sleep(0.5)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        threads += [threading.Thread(target=big_client), threading.Thread(target=sample_rss)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        server.terminate()
        server.wait(timeout=30)

    ok = [took for _, took, status in small if status == 200]
    timed_out = [start for start, _, status in small if status == "timeout"]
    during = [
        took for start, took, status in small if status == 200 and big and big["start"] <= start <= big["start"] + big["seconds"]
    ]
    statuses: dict[str, int] = {}
    for _, _, status in small:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    figures = {
        "command": " ".join(["bench/load_test.py", *sys.argv[1:]]),
        "cores": os.cpu_count(),
        "clients": args.clients,
        "seconds": args.seconds,
        "small_requests": len(small),
        "small_statuses": statuses,
        "client_timeout_s": args.timeout,
        "first_timeout_at_s": round(min(timed_out), 1) if timed_out else None,
        "small_per_second": round(len(small) / args.seconds, 2),
        "small_p50_s": round(statistics.median(ok), 3) if ok else None,
        "small_p95_s": round(percentile(ok, 0.95), 3),
        "small_max_s": round(max(ok), 3) if ok else None,
        "small_during_big_n": len(during),
        "small_during_big_p95_s": round(percentile(during, 0.95), 3),
        "small_during_big_max_s": round(max(during), 3) if during else None,
        "big": {k: round(v, 3) if isinstance(v, float) else v for k, v in big.items()},
        "rss_mb": {
            "start": round(rss[0][1]),
            "max": round(max(r for _, r in rss)),
            "end": round(rss[-1][1]),
            "every_5s": [round(r) for t, r in rss if abs(t / 5 - round(t / 5)) < 0.05],
        },
    }
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
