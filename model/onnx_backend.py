"""ONNX conversion, int8 dynamic quantisation and an onnxruntime runner for the classifier.

The graph (built by `framing.model.onnx_graph` from the weights, without torch) takes exactly
what `encode_sentence` + `pad_batch_numpy` produce (input_ids, attention_mask, token_type_ids;
any batch size, any length) and returns the encoder's hidden states; pooling and the head run in
numpy on them (`heads.safetensors` beside the graph) and give the raw logits, so temperature
scaling and softmax stay in `FramingClassifier`, shared with the torch path.

Converted models are cached by a key over the weights, the graph-shaping config and the conversion
recipe, so a retrained folder can never be served a stale graph. Lookup order: `<model>/onnx/` (a
pre-converted copy shipped with the model, used only if its manifest names the same key; like
every file of the folder it must match the folder's checksums.json, which `check_model_folder`
verifies, so a planted graph is refused), then
`$FRAMING_ONNX_CACHE/<key>/` (default `~/.cache/framing/onnx/<key>/`), where a miss is converted
and moved in atomically. Only safetensors weights and ONNX files are ever read: no pickles.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime as ort

from framing.files import write_json_atomic
from framing.model.folder import CHECKSUMS_FILE, ModelFolderError, check_model_folder
from framing.model.onnx_graph import HIDDEN_NAME, OPSET, ClassifierHead, classifier_head, encoder_graph, merged_weights
from framing.model.settings import SETTINGS_KEY, ModelSettings

# Nothing leaves the machine: framing/__init__.py turned onnxruntime's telemetry off before the
# import above (ORT_DISABLE_TELEMETRY); this also stops the events of sessions made later.
ort.disable_telemetry_events()

FP32_NAME = "model.onnx"
INT8_NAME = "model.int8.onnx"
MANIFEST_NAME = "manifest.json"
HEADS_NAME = "heads.safetensors"
LOCAL_DIR = "onnx"
Precision = Literal["int8", "fp32"]

# Part of the cache key: changing how we export or quantise must never reuse an old file.
# Per-channel weight scales: on the quick model they raise argmax agreement with fp32 torch from
# 93% (per-tensor) to 98% at the same speed; keeping the 96M-parameter embedding table in fp32
# helped neither agreement nor F1 and costs 290 MB, so it is quantised too (see docs/performance.md).
RECIPE = {
    "version": 2,
    "exporter": "numpy-graph",
    "opset": OPSET,
    "output": "hidden+numpy-head",
    "int8": "dynamic s8 per-channel",
}

# config.json keys that do not change the graph: re-calibrating the temperature must not force a re-export.
_CONFIG_KEYS_OUTSIDE_GRAPH = {"transformers_version"}


def physical_cores() -> int:
    """Physical cores this process may run on; hyperthreads do not add matmul throughput."""
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add(((topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text().strip()))
        except OSError:
            cores.add(("logical", str(cpu)))
    return max(1, len(cores))


def session_options(threads: int | None = None) -> ort.SessionOptions:
    """onnxruntime settings for CPU inference on a few cores (`threads` defaults to the physical cores)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or physical_cores()
    # The encoder is one chain of ops: there is nothing for a second inter-op pool to run in parallel.
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle pool threads sleep instead of spinning: on 2 cores shared with other work (another
    # job, the tokenizer), a spinning thread steals the core the busy one needs; 1.8-1.9x faster
    # this way with one other busy process (docs/performance.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def export_onnx(folder: Path, config: dict, target_dir: Path) -> Path:
    """Build the fp32 encoder graph of a model folder into `target_dir/model.onnx`, and its head
    weights into `target_dir/heads.safetensors`; returns the graph's path. Needs no torch."""
    import onnx
    from safetensors.numpy import save_file

    weights = merged_weights(folder, config)
    head = classifier_head(weights)
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / FP32_NAME
    # The graph holds ~470 MB of weights; protobuf serialises models up to 2 GB in one piece.
    onnx.save(encoder_graph(weights, config), str(target))
    save_file(head.tensors(), str(target_dir / HEADS_NAME))
    return target


def quantize(onnx_path: str | Path) -> Path:
    """Int8 dynamic quantisation of an fp32 export; writes `model.int8.onnx` beside it and returns its path."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = Path(onnx_path)
    target = source.with_name(INT8_NAME)
    # Activations are quantised per batch at run time (u8); weights once, here (s8, which the
    # VNNI/AMX int8 kernels of x86 CPUs take directly).
    root = logging.getLogger()
    root.addFilter(_quiet_quantizer)
    try:
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.removeFilter(_quiet_quantizer)
    return target


def _quiet_quantizer(record: logging.LogRecord) -> bool:
    # The quantiser advises (on the root logger) a shape-inference pre-pass meant for static
    # quantisation; dynamic quantisation of this graph does not need it, and users should not see it.
    return not record.getMessage().startswith("Please consider to run pre-processing before quantization")


def model_key(model_folder: str | Path, digests: Mapping[str, str] | None = None) -> str:
    """sha256 over the recipe, the graph-shaping config and the safetensors weights of a model folder.

    `digests` maps file names to sha256 hex digests already verified (the folder's checksums.json,
    once `check_model_folder` has checked it), so a 470 MB weights file is not hashed twice.
    """
    folder = Path(model_folder)
    digest = hashlib.sha256(json.dumps(RECIPE, sort_keys=True).encode())
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    graph_config = {k: v for k, v in config.items() if k not in _CONFIG_KEYS_OUTSIDE_GRAPH}
    # The temperature scales logits after the graph: refitting it must not force a new conversion.
    graph_config[SETTINGS_KEY] = {k: v for k, v in ModelSettings.from_config(config).to_dict().items() if k != "temperature"}
    digest.update(json.dumps(graph_config, sort_keys=True).encode())
    for name in ("adapter_config.json", "adapter_model.safetensors", "model.safetensors"):
        path = folder / name
        if path.is_file():
            known = (digests or {}).get(name)
            if known is None:
                with path.open("rb") as handle:
                    known = hashlib.file_digest(handle, "sha256").hexdigest()
            digest.update(f"{name}:{known}".encode())
    return digest.hexdigest()


def _verified_digests(folder: Path) -> dict[str, str]:
    """The folder's recorded checksums; only call after `check_model_folder` has verified them."""
    recorded = folder / CHECKSUMS_FILE
    if not recorded.is_file():
        return {}
    return {str(k): str(v) for k, v in json.loads(recorded.read_text(encoding="utf-8")).items()}


def default_onnx_cache() -> Path:
    """$FRAMING_ONNX_CACHE, else `onnx/` in the framing cache ($FRAMING_CACHE or ~/.cache/framing)."""
    if os.environ.get("FRAMING_ONNX_CACHE"):
        return Path(os.environ["FRAMING_ONNX_CACHE"])
    from framing.model.packaged_e5 import default_cache_dir

    return default_cache_dir() / "onnx"


def _file_name(precision: Precision) -> str:
    if precision not in ("int8", "fp32"):
        raise ValueError(f"precision must be 'int8' or 'fp32', not {precision!r}")
    return INT8_NAME if precision == "int8" else FP32_NAME


def _cached(directory: Path, key: str, precision: Precision) -> Path | None:
    path = directory / _file_name(precision)
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(manifest, dict) or manifest.get("key") != key or not path.is_file():
        return None
    if not (directory / HEADS_NAME).is_file():
        return None
    # A conversion cut short (a full disk, a copied cache) is converted again, not loaded.
    sizes = manifest.get("bytes")
    if isinstance(sizes, dict) and sizes.get(path.name) not in (None, path.stat().st_size):
        return None
    return path


def convert(model_folder: str | Path, target_dir: str | Path, precision: Precision = "int8", trust: bool = False) -> Path:
    """Export (and for int8 quantise) a model folder into `target_dir`; returns the ONNX file.

    Work happens in a staging folder beside `target_dir`, and each finished file is moved in with
    an atomic rename, the manifest last: a reader sees a complete file or none, and two processes
    converting at once only do the work twice.
    """
    folder, target_dir = Path(model_folder), Path(target_dir)
    config = check_model_folder(folder, trust=trust)
    key = model_key(folder, _verified_digests(folder))
    name = _file_name(precision)
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".onnx-", dir=target_dir.parent))
    try:
        exported = export_onnx(folder, config, staging)
        produced = quantize(exported) if precision == "int8" else exported
        target_dir.mkdir(exist_ok=True)
        os.replace(staging / HEADS_NAME, target_dir / HEADS_NAME)
        os.replace(produced, target_dir / name)
        sizes = {p.name: p.stat().st_size for p in target_dir.glob("*.onnx")}
        manifest = {"key": key, "recipe": RECIPE, "source": str(folder.resolve()), "onnxruntime": ort.__version__, "bytes": sizes}
        write_json_atomic(target_dir / MANIFEST_NAME, manifest)  # last: it marks the conversion complete
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target_dir / name


class OnnxLogits:
    """`logits = OnnxLogits.from_folder(run)(batch)`: the classifier's logits from onnxruntime on CPU.

    With `row_by_row` (the default for int8), each row runs alone, trimmed of its padding. Dynamic
    quantisation takes one activation scale per tensor, i.e. per batch, so batched int8 logits
    depend on the other rows and the padding; row by row they do not, and a sentence gets the same
    label however the input is chunked, sorted or resumed. Rows then run concurrently, one per
    core, each on one onnxruntime thread: a single sentence is too small a job to split across
    cores, and one session run per core kept both busy where two intra-op threads on one row
    left one idle (docs/performance.md).
    """

    def __init__(self, onnx_path: str | Path, threads: int | None = None, row_by_row: bool = False) -> None:
        self.path = Path(onnx_path)
        if self.path.suffix != ".onnx":
            raise ValueError(f"{self.path}: not an .onnx file")
        self.threads = threads or physical_cores()
        self.row_by_row = row_by_row
        # onnxruntime's run() releases the GIL and may be called from several threads at once.
        options = session_options(1 if row_by_row else self.threads)
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        heads_path = self.path.with_name(HEADS_NAME)
        if not heads_path.is_file():
            raise ModelFolderError(f"{self.path.parent}: no {HEADS_NAME} beside the graph")
        from safetensors.numpy import load_file

        self.head = ClassifierHead.from_tensors(load_file(str(heads_path)))
        self._pool: ThreadPoolExecutor | None = None

    def _logits(self, feed: Mapping[str, np.ndarray]) -> np.ndarray:
        hidden = self.session.run([HIDDEN_NAME], dict(feed))[0]
        return self.head(hidden, feed["attention_mask"], feed["token_type_ids"])

    def _run_rows(self, rows: list[dict[str, np.ndarray]], run=None) -> list:
        run = run or self._logits
        if self.threads == 1 or len(rows) == 1:
            return [run(row) for row in rows]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="onnx-row")
        return list(self._pool.map(run, rows))

    @classmethod
    def from_folder(
        cls,
        model_folder: str | Path,
        precision: Precision = "int8",
        cache_dir: str | Path | None = None,
        threads: int | None = None,
        row_by_row: bool | None = None,
        checked: bool = False,
        trust: bool = False,
    ) -> OnnxLogits:
        """The ONNX model for a model folder, converted on first use (docs/performance.md gives the time).

        `cache_dir` replaces `default_onnx_cache()`; `row_by_row` defaults to int8's need;
        `checked` says the caller has just run `check_model_folder` on it (which hashes every
        weight file), so it is not run twice.
        """
        folder = Path(model_folder)
        if not checked:
            check_model_folder(folder, trust=trust)  # refuses unverifiable folders before anything is hashed
        key = model_key(folder, _verified_digests(folder))
        path = _cached(folder / LOCAL_DIR, key, precision)
        if path is None:
            keyed = Path(cache_dir) if cache_dir is not None else default_onnx_cache()
            keyed = keyed / key[:32]
            path = _cached(keyed, key, precision) or convert(folder, keyed, precision, trust)
        return cls(path, threads, row_by_row=precision == "int8" if row_by_row is None else row_by_row)

    def __call__(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        """Logits (batch x labels, float32) for a right-padded batch as `pad_batch` makes it (numpy or torch)."""
        feed = {name: np.ascontiguousarray(np.asarray(batch[name]), dtype=np.int64) for name in self.input_names}
        if not self.row_by_row:
            return self._logits(feed)
        mask = feed["attention_mask"]
        lengths = mask.sum(axis=1)
        if np.any(mask != (np.arange(mask.shape[1]) < lengths[:, None])):
            raise ValueError("row_by_row needs right padding (attention_mask 1s then 0s, as pad_batch makes)")
        if len(lengths) == 0:
            return self._logits(feed)
        rows = [
            {name: values[i : i + 1, : max(int(length), 1)] for name, values in feed.items()} for i, length in enumerate(lengths)
        ]
        return np.concatenate(self._run_rows(rows))

    def outputs(self, batch: Mapping[str, np.ndarray], targets: np.ndarray) -> dict[str, np.ndarray]:
        """Every head's output for a right-padded batch of windows and its targets (N x 3: row,
        start, end), as `E5ForFramingClassification.forward(..., targets=...)` gives them."""
        feed = {name: np.ascontiguousarray(np.asarray(batch[name]), dtype=np.int64) for name in self.input_names}
        targets = np.asarray(targets, dtype=np.int64).reshape(-1, 3)
        if not self.row_by_row:
            return self.head.outputs(self.session.run([HIDDEN_NAME], feed)[0], targets)
        lengths = feed["attention_mask"].sum(axis=1)
        jobs = []
        for i, length in enumerate(lengths):
            own = targets[targets[:, 0] == i].copy()
            own[:, 0] = 0
            jobs.append(({name: values[i : i + 1, : max(int(length), 1)] for name, values in feed.items()}, own))

        def run(job):
            row, own = job
            return self.head.outputs(self.session.run([HIDDEN_NAME], row)[0], own)

        results = self._run_rows(jobs, run) if jobs else []
        out: dict[str, np.ndarray] = {}
        for key in ("logits", "source_type_logits", "flag_logits"):
            if results and key in results[0]:
                merged = np.zeros((len(targets), results[0][key].shape[1]), dtype=np.float32)
                for i, result in enumerate(results):
                    merged[targets[:, 0] == i] = result[key]
                out[key] = merged
        if results and "span_logits" in results[0]:
            span = np.zeros((*feed["input_ids"].shape, 2), dtype=np.float32)
            for i, result in enumerate(results):
                span[i, : result["span_logits"].shape[1]] = result["span_logits"][0]
            out["span_logits"] = span
        return out
