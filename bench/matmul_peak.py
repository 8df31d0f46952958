"""Measured matrix-multiply throughput at the encoder's shapes: the ceiling for classification speed.

    python bench/matmul_peak.py --tokens 1824 [--json bench/matmul_peak.json]

`--tokens` is the rows of one batch's activations (batch x padded length; 32 x 57 for length-sorted
batches of the corpus). Each of e5-small's matmuls is (tokens x K) @ (K x N) with (K, N) in
{(384, 384), (384, 1536), (1536, 384)}; the attention products are 100x smaller and left out.
Measured with all physical cores: torch fp32 (oneDNN/MKL), numpy fp32 (its BLAS), onnxruntime fp32
MatMul, onnxruntime int8 MatMulInteger (u8 x s8 -> s32, the pure integer kernel) and
DynamicQuantizeMatMul (float in, quantise the activations, int8 GEMM, float out: what the
quantised model runs after onnxruntime's graph fusions).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SHAPES = ((384, 384), (384, 1536), (1536, 384))


def best_seconds(run: Callable[[], object], budget: float = 1.0) -> float:
    """Fastest of repeated calls within `budget` seconds: the least disturbed by other load."""
    run()
    best, spent = float("inf"), 0.0
    while spent < budget:
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        best, spent = min(best, elapsed), spent + elapsed
    return best


def _ort_session(op: str, m: int, k: int, n: int, threads: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from framing.model.onnx_backend import session_options

    rng = np.random.default_rng(0)
    if op == "MatMul":
        inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])]
        weight = numpy_helper.from_array(rng.standard_normal((k, n), dtype=np.float32), "b")
        nodes = [helper.make_node("MatMul", ["a", "b"], ["y"])]
        output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])
        domains = [helper.make_opsetid("", 17)]
        extra = []
    elif op == "MatMulInteger":
        inputs = [helper.make_tensor_value_info("a", TensorProto.UINT8, [m, k])]
        weight = numpy_helper.from_array(rng.integers(-127, 128, (k, n), dtype=np.int8), "b")
        extra = [
            numpy_helper.from_array(np.array(128, dtype=np.uint8), "az"),
            numpy_helper.from_array(np.array(0, dtype=np.int8), "bz"),
        ]
        nodes = [helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])]
        output = helper.make_tensor_value_info("y", TensorProto.INT32, [m, n])
        domains = [helper.make_opsetid("", 17)]
    else:  # DynamicQuantizeMatMul, per-channel weight scales as our quantiser writes them
        inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])]
        weight = numpy_helper.from_array(rng.integers(-127, 128, (k, n), dtype=np.int8), "b")
        extra = [
            numpy_helper.from_array(np.full(n, 0.01, dtype=np.float32), "bs"),
            numpy_helper.from_array(np.zeros(n, dtype=np.int8), "bz"),
        ]
        nodes = [helper.make_node("DynamicQuantizeMatMul", ["a", "b", "bs", "bz"], ["y"], domain="com.microsoft")]
        output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])
        domains = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    graph = helper.make_graph(nodes, op, inputs, [output], initializer=[weight, *extra])
    model = helper.make_model(graph, opset_imports=domains)
    return ort.InferenceSession(model.SerializeToString(), session_options(threads), providers=["CPUExecutionProvider"])


def measure(tokens: int, threads: int, budget: float = 1.0) -> dict:
    """GFLOP/s (int8: giga integer multiply-adds x 2) per kernel, per shape and summed over one layer."""
    import torch

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    results: dict[str, dict] = {}
    kernels = ("torch_fp32", "numpy_fp32", "ort_fp32_MatMul", "ort_int8_MatMulInteger", "ort_int8_DynamicQuantizeMatMul")
    for kernel in kernels:
        per_shape, total_flops, total_seconds = {}, 0.0, 0.0
        for k, n in SHAPES:
            a = rng.standard_normal((tokens, k), dtype=np.float32)
            b = rng.standard_normal((k, n), dtype=np.float32)
            if kernel == "torch_fp32":
                ta, tb = torch.from_numpy(a), torch.from_numpy(b)
                seconds = best_seconds(lambda ta=ta, tb=tb: torch.matmul(ta, tb), budget)
            elif kernel == "numpy_fp32":
                seconds = best_seconds(lambda a=a, b=b: a @ b, budget)
            else:
                op = kernel.split("_", 2)[2]
                session = _ort_session(op, tokens, k, n, threads)
                feed = {"a": rng.integers(0, 256, (tokens, k), dtype=np.uint8) if op == "MatMulInteger" else a}
                seconds = best_seconds(lambda s=session, f=feed: s.run(None, f), budget)
            flops = 2.0 * tokens * k * n
            per_shape[f"{k}x{n}"] = round(flops / seconds / 1e9, 1)
            # A layer runs the 384x384 shape four times (Q, K, V, output), the FFN shapes once each.
            weight = 4 if (k, n) == (384, 384) else 1
            total_flops += weight * flops
            total_seconds += weight * seconds
        results[kernel] = {"gflops_per_shape": per_shape, "gflops_layer_mix": round(total_flops / total_seconds / 1e9, 1)}
    return results


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        pools = threadpool_info()
        return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture', '')}".strip() for i in pools)
    except ImportError:
        return "threadpoolctl not installed"


def main() -> None:
    from framing.model.onnx_backend import physical_cores

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=32 * 57, help="activation rows per batch (batch x padded length)")
    parser.add_argument("--threads", type=int, default=physical_cores())
    parser.add_argument("--budget", type=float, default=1.0, help="seconds of repeats per kernel and shape")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = measure(args.tokens, args.threads, args.budget)
    report = {
        "tokens": args.tokens,
        "threads": args.threads,
        "blas": blas_info(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "kernels": results,
    }
    for kernel, figures in results.items():
        shapes = "  ".join(f"{s}: {g:7.1f}" for s, g in figures["gflops_per_shape"].items())
        print(f"{kernel:32s} layer mix {figures['gflops_layer_mix']:7.1f} GFLOP/s   ({shapes})")
    print(f"load average before {report['loadavg_before']}, after {report['loadavg_after']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
