#!/usr/bin/python3
"""PyTorch peer for bench_attention: the composite attention a model would write without a fused
kernel (q @ k^T * scale, causal mask, softmax, @ v), forward and forward + backward.

Prints one JSON line per configuration, in the same format as bench_attention:
  {"impl": "torch", "threads": N, "B": .., "H": .., "T": .., "D": .., "fwd_ms": .., "fwdbwd_ms": ..}
Run with Debian's interpreter (/usr/bin/python3), which sees python3-torch. Times are the median of
--reps runs after one warm-up.
"""
import argparse
import json
import math
import os
import statistics
import time

import torch


def composite(q, k, v, mask, scale):
    # q, k, v: (B, H, T, D). The (T, T) score, probability and gradient matrices are materialised.
    s = (q @ k.transpose(-2, -1)) * scale
    s = s.masked_fill(mask, float("-inf"))
    p = torch.softmax(s, dim=-1)
    return p @ v


def time_ms(fn, reps):
    fn()  # warm-up: allocator, BLAS buffers
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--B", type=int, default=8)
    ap.add_argument("--H", type=int, default=12)
    ap.add_argument("--D", type=int, default=64)
    ap.add_argument("--T", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    for T in args.T:
        B, H, D = args.B, args.H, args.D
        scale = 1.0 / math.sqrt(D)
        q, k, v = (torch.randn(B, H, T, D) for _ in range(3))
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        dout = torch.randn(B, H, T, D)

        def fwd():
            with torch.no_grad():
                composite(q, k, v, mask, scale)

        qg, kg, vg = (x.clone().requires_grad_(True) for x in (q, k, v))

        def fwdbwd():
            for x in (qg, kg, vg):
                x.grad = None
            composite(qg, kg, vg, mask, scale).backward(dout)

        row = {
            "impl": "torch",
            "threads": args.threads,
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
            "B": B, "H": H, "T": T, "D": D,
            "fwd_ms": round(time_ms(fwd, args.reps), 3),
            "fwdbwd_ms": round(time_ms(fwdbwd, args.reps), 3),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
