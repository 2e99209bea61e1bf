#!/usr/bin/python3
"""PyTorch peer for bench_generate: a GPT-2 of the same shape in eager PyTorch with a KV cache,
written the way an efficient eager implementation is, timed the same way. The cache is
preallocated to the context length once, outside the timed runs, and filled in place, as
Cornerstone's KVCache is (--cache concat grows it with torch.cat each step instead, as Hugging
Face's GPT-2 does, which reallocates and copies the whole cache every token):

  prompt   one forward pass over --prompt tokens into an empty cache; logits of the last position only
  decode   --decode steps of one token from an empty cache, greedy

--dtype picks the weights: float32, bfloat16 (oneDNN matmuls), or qint8 (torch's dynamic int8
quantization of every nn.Linear, fbgemm kernels: PyTorch's own answer to quantized inference).
Prints one JSON line:
  {"impl": "torch", "dtype": .., "threads": N, "openblas_coretype": .., "prompt_tok_s": .., "decode_tok_s": ..}
Run with Debian's interpreter (/usr/bin/python3), which sees python3-torch. Medians of --reps runs
after a warm-up run.
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {"gpt2-small": dict(vocab=50257, context=1024, layers=12, d=768, heads=12)}


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc, self.fc_proj = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, cache, start):
        B, T, C = x.shape
        H, D = self.h, C // self.h
        q, k, v = self.qkv(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, H, D).transpose(1, 2) for t in (q, k, v))
        if isinstance(cache, Preallocated):  # write this step's keys / values in place, attend to the prefix
            cache.k[:, :, start:start + T] = k
            cache.v[:, :, start:start + T] = v
            k, v = cache.k[:, :, :start + T], cache.v[:, :, :start + T]
        elif cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D))
        if T > 1:  # queries sit at the last T positions of the keys
            S = k.shape[2]
            mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
            att = att.masked_fill(~mask, float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + self.proj(y)
        x = x + self.fc_proj(F.gelu(self.fc(self.ln_2(x)), approximate="tanh"))
        return x, cache if isinstance(cache, Preallocated) else (k, v)


class Preallocated:
    """One layer's keys and values, (B, H, context, D) each, allocated once."""

    def __init__(self, B, H, context, D, dtype):
        self.k = torch.empty(B, H, context, D, dtype=dtype)
        self.v = torch.empty(B, H, context, D, dtype=dtype)


class GPT2(nn.Module):
    def __init__(self, vocab, context, layers, d, heads):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as GPT-2

    def forward(self, ids, caches, start):
        x = self.wte(ids) + self.wpe(torch.arange(start, start + ids.shape[1]))
        new = []
        for b, c in zip(self.blocks, caches):
            x, c = b(x, c, start)
            new.append(c)
        return self.lm_head(self.ln_f(x[:, -1:])), new  # logits of the last position only


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "qint8"])
    ap.add_argument("--prompt", type=int, default=512)
    ap.add_argument("--decode", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--preset", default="gpt2-small")
    ap.add_argument("--cache", default="preallocated", choices=["preallocated", "concat"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    c = PRESETS[args.preset]
    model = GPT2(c["vocab"], c["context"], c["layers"], c["d"], c["heads"]).eval()
    if args.dtype == "bfloat16":
        model = model.to(torch.bfloat16)
    elif args.dtype == "qint8":
        model.lm_head.weight = nn.Parameter(model.wte.weight.detach().clone())  # untie so it is quantized too
        model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    ids = torch.arange(args.prompt).remainder(c["vocab"]).view(1, -1)
    if args.cache == "preallocated":  # allocated here, untimed; each run starts at position 0 of it
        act_dtype = torch.bfloat16 if args.dtype == "bfloat16" else torch.float32
        empty = [Preallocated(1, c["heads"], c["context"], c["d"] // c["heads"], act_dtype) for _ in range(c["layers"])]
    else:
        empty = [None] * c["layers"]

    def prompt():
        model(ids, empty, 0)

    def decode():
        caches, tok = empty, ids[:, :1]
        for step in range(args.decode):
            logits, caches = model(tok, caches, step)
            tok = logits[:, -1].argmax(-1, keepdim=True)

    def median_s(fn):
        fn()
        times = []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    with torch.no_grad():
        p, d = median_s(prompt), median_s(decode)
    print(json.dumps({"impl": "torch", "dtype": args.dtype, "threads": args.threads, "cache": args.cache,
                      "jemalloc": "jemalloc" in os.environ.get("LD_PRELOAD", ""),
                      "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
                      "torch": torch.__version__, "prompt": args.prompt, "decode": args.decode,
                      "prompt_tok_s": args.prompt / p, "decode_tok_s": args.decode / d}), flush=True)


if __name__ == "__main__":
    main()
