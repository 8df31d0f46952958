"""Optional LoRA fine-tuning with peft: small adapters instead of full encoder updates."""

from __future__ import annotations

from torch import nn

from training.config import LoraConfig


def wrap_with_lora(model: nn.Module, lora: LoraConfig) -> nn.Module:
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    peft_config = PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=list(lora.target_modules),
        modules_to_save=["classifier"],
    )
    return get_peft_model(model, peft_config)


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold the adapters into the encoder so the run folder is a plain model."""
    return model.merge_and_unload()
