"""Optional LoRA fine-tuning with peft: small adapters instead of full encoder updates."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from framing.training.config import LoraConfig


def wrap_with_lora(model: nn.Module, lora: LoraConfig) -> nn.Module:
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    peft_config = PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        # The head is new, and token type 1 (the context segment) starts as a copy of type 0:
        # both are trained in full; they are tiny.
        # The source heads, when the model has them, likewise.
        modules_to_save=[
            "classifier",
            "token_type_embeddings",
            *(["span_head", "source_type_head", "flags_head"] if getattr(model, "source_heads", False) else []),
        ],
    )
    return get_peft_model(model, peft_config)


def save_adapter(model: nn.Module, folder: Path, base_name: str) -> None:
    """The adapter alone (a few MB); the trainer adds config.json, which names the base model
    and its checksum so that loading can refuse a mismatched base. peft's own record of the
    base is `base_name` too (the hub name for the packaged e5), not this machine's cache path."""
    for peft_config in model.peft_config.values():
        peft_config.base_model_name_or_path = base_name
    model.save_pretrained(folder, safe_serialization=True)


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold the adapters into the encoder so the run folder is a plain model."""
    return model.merge_and_unload()
