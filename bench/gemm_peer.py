#!/usr/bin/python3
"""PyTorch 1.13 peer for bench_gemm: torch.mm at the same shapes and thread count.

Prints one JSON object per line: {"shape", "threads", "torch_f32_gflops", "torch_bf16_gflops"}.
"""
import argparse
import json
import time

import torch

SHAPES = [  # name, trans, M, N, K  (same list as bench_gemm.cpp)
    ("tiny.qkv.fwd", "NT", 2048, 1152, 384), ("tiny.qkv.dx", "NN", 2048, 384, 1152),
    ("tiny.qkv.dw", "TN", 1152, 384, 2048), ("tiny.fc.fwd", "NT", 2048, 1536, 384),
    ("tiny.proj.fwd", "NT", 2048, 384, 1536), ("tiny.lmhead.chunk", "NT", 256, 50304, 384),
    ("small.qkv.fwd", "NT", 4096, 2304, 768), ("small.fc.fwd", "NT", 4096, 3072, 768),
    ("small.proj.dx", "NN", 4096, 3072, 768), ("small.fc.dw", "TN", 3072, 768, 4096),
]


def operands(trans, M, N, K, dtype):
    a = torch.rand(M, K) if trans[0] == "N" else torch.rand(K, M).t()
    b = torch.rand(K, N) if trans[1] == "N" else torch.rand(N, K).t()
    return a.to(dtype), b.to(dtype)


def gflops(a, b, flops):
    torch.mm(a, b)
    reps = max(2, int(3e10 / flops))
    best = 1e30
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        best = min(best, (time.perf_counter() - t0) / reps)
    return flops / best / 1e9


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for name, trans, M, N, K in SHAPES:
        if args.quick and name.startswith("small"):
            continue
        flops = 2.0 * M * N * K
        f32 = gflops(*operands(trans, M, N, K, torch.float32), flops)
        bf16 = gflops(*operands(trans, M, N, K, torch.bfloat16), flops)
        print(json.dumps({"shape": name, "threads": args.threads, "torch_f32_gflops": round(f32, 1),
                          "torch_bf16_gflops": round(bf16, 1)}), flush=True)


if __name__ == "__main__":
    main()
