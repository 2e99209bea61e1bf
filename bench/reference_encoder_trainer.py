#!/usr/bin/python3
"""The PyTorch 1.13 reference for masked-LM pretraining: the same BERT (tests/reference/models.py,
Hugging Face's BertForMaskedLM layout and computation), the same batches' shape and recipe as
`cornerstone pretrain` with an encoder config, for side-by-side speed benchmarks.

    reference_encoder_trainer.py --config bert-mini|bert-tiny|FILE.json --data DIR [--steps N]
                                 [--threads 2] [--batch B] [--context T] [--head full|gathered]

Rows are [CLS] A [SEP] B [SEP] windows of Cornerstone's token shards (numpy memmap), 15% of the
tokens selected, 80% [MASK] / 10% random / 10% kept; AdamW (decay on matrices), clipping, warm-up
and cosine decay; dropout as configured (none on attention probabilities, as in Cornerstone).

--head full      the MLM head on every position, cross-entropy with ignore_index (what
                 BertForMaskedLM computes)
--head gathered  the head on the selected positions only (what Cornerstone computes)

Prints one JSON line per step ({"step", "loss", "ms"}) and a summary ({"tokens_per_s", ...}).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
from models import Bert  # noqa: E402

SHAPES = {  # mirrors src/models/encoder_config.cpp (d_ff = 4 d_model) and src/train/pretrain_config.cpp
    "bert-tiny": (2, 128, 2, 64, 1e-3),
    "bert-mini": (4, 256, 4, 32, 5e-4),
    "bert-small": (4, 512, 8, 32, 3e-4),
    "bert-base": (12, 768, 12, 16, 1e-4),
}
TRAIN_DEFAULTS = {"context": 128, "steps": 1000, "min_lr": None, "warmup_steps": 100, "weight_decay": 0.01,
                  "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "grad_clip": 1.0, "seed": 1337}
CLS, SEP, MASK = 101, 102, 103  # bert-base-uncased


def load_config(name):
    if name in SHAPES:
        L, C, H, B, lr = SHAPES[name]
        m = {"n_layers": L, "d_model": C, "n_heads": H, "d_ff": 4 * C}
        t = dict(TRAIN_DEFAULTS, batch_size=B, lr=lr)
    else:
        with open(name) as f:
            j = json.load(f)
        m = j["model"] if isinstance(j["model"], dict) else load_config(j["model"])[0]
        t = dict(TRAIN_DEFAULTS, batch_size=8, lr=5e-4)
        t.update(j.get("training", {}))
    m = dict({"vocab_size": 30522, "context": 512, "type_vocab_size": 2, "norm_eps": 1e-12, "dropout": 0.1,
              "init_std": 0.02}, **m)
    t["min_lr"] = t["min_lr"] if t["min_lr"] is not None else t["lr"] / 10
    return m, t


def hf_config(m):
    return {"model_type": "bert", "vocab_size": m["vocab_size"], "hidden_size": m["d_model"],
            "num_hidden_layers": m["n_layers"], "num_attention_heads": m["n_heads"], "intermediate_size": m["d_ff"],
            "max_position_embeddings": m["context"], "type_vocab_size": m["type_vocab_size"],
            "layer_norm_eps": m["norm_eps"]}


def init_bert(model, std):
    """BERT's initialisation, as Cornerstone's: N(0, std) weights and embeddings, zero biases, unit gains."""
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            torch.nn.init.normal_(p, 0.0, std)
        elif "LayerNorm.weight" in name:
            torch.nn.init.ones_(p)
        else:
            torch.nn.init.zeros_(p)


def tokens_of(folder, split):
    parts = []
    for name in sorted(os.listdir(folder)):
        if name.startswith(split + "-") and name.endswith(".bin"):
            path = os.path.join(folder, name)
            width = int(np.fromfile(path, dtype=np.uint32, count=4)[3])
            parts.append(np.memmap(path, dtype=np.uint16 if width == 2 else np.uint32, mode="r", offset=64))
    if not parts:
        raise SystemExit(f"{folder}: no {split}-*.bin shards")
    return np.concatenate(parts).astype(np.int64)


def masked_batch(tokens, B, T, rng, vocab):
    """[CLS] A [SEP] B [SEP] rows from random windows, masked 15% / 80-10-10."""
    n = T - 3
    ids = np.empty((B, T), dtype=np.int64)
    seg = np.zeros((B, T), dtype=np.int64)
    for r, s in enumerate(rng.integers(0, len(tokens) - n, size=B)):
        w = tokens[s:s + n]
        split = int(rng.integers(1, n))
        ids[r] = np.concatenate(([CLS], w[:split], [SEP], w[split:], [SEP]))
        seg[r, split + 2:] = 1
    special = (ids == CLS) | (ids == SEP) | (ids == 0)
    selected = (rng.random((B, T)) < 0.15) & ~special
    targets = np.where(selected, ids, -100)
    u = rng.random((B, T))
    ids = np.where(selected & (u < 0.8), MASK, ids)
    ids = np.where(selected & (u >= 0.8) & (u < 0.9), rng.integers(0, vocab, size=(B, T)), ids)
    return torch.from_numpy(ids), torch.from_numpy(seg), torch.from_numpy(targets)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--context", type=int)
    ap.add_argument("--head", choices=["full", "gathered"], default="full")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    m, t = load_config(args.config)
    B = args.batch or t["batch_size"]
    T = args.context or t["context"]
    torch.manual_seed(t["seed"])
    rng = np.random.default_rng(t["seed"])
    model = Bert(hf_config(m), dropout=m["dropout"])
    init_bert(model, m["init_std"])
    model.train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=t["lr"], betas=(t["beta1"], t["beta2"]), eps=t["eps"])
    train = tokens_of(args.data, "train")
    total = args.steps or t["steps"]

    def lr_at(step):
        if step < t["warmup_steps"]:
            return t["lr"] * (step + 1) / t["warmup_steps"]
        prog = min(1.0, (step - t["warmup_steps"]) / max(1, total - t["warmup_steps"]))
        return t["min_lr"] + (t["lr"] - t["min_lr"]) * 0.5 * (1 + math.cos(math.pi * prog))

    times = []
    for step in range(total):
        ts = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        ids, seg, targets = masked_batch(train, B, T, rng, m["vocab_size"])
        h = model.hidden(ids, seg)
        if args.head == "full":
            logits = model.mlm_logits(h)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        else:
            rows = (targets.reshape(-1) >= 0).nonzero().squeeze(1)
            logits = model.mlm_logits(h.reshape(-1, h.shape[-1])[rows])
            loss = F.cross_entropy(logits, targets.reshape(-1)[rows])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
        opt.step()
        times.append(time.perf_counter() - ts)
        if not args.quiet:
            print(json.dumps({"step": step + 1, "loss": loss.item(), "ms": 1e3 * times[-1]}), flush=True)
    steady = sorted(times[3:] if len(times) > 5 else times)
    ms = 1e3 * steady[len(steady) // 2]  # the median step: robust to a shared machine's hiccups
    print(json.dumps({"summary": True, "steps": total, "tokens_per_s": B * T / (ms / 1e3), "ms_per_step": ms,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "train_loss": loss.item(),
                      "threads": args.threads, "head": args.head, "batch": B, "context": T,
                      "params": sum(p.numel() for p in model.parameters())}), flush=True)


if __name__ == "__main__":
    main()
