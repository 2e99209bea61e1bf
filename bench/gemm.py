#!/usr/bin/python3
"""GEMM benchmark driver: Cornerstone's GEMM (oneDNN) beside OpenBLAS and torch.mm, in one run.

For each thread count it runs bench_gemm (oneDNN and OpenBLAS as Debian ships it), bench_gemm again
with the OPENBLAS_CORETYPE that makes it fastest here (bench_common.best_openblas_coretype, or
Cooperlake when its own detection is as fast: OpenBLAS 0.3.21 does not recognise Zen 5 or Emerald
Rapids and falls back to AVX2 or SSE3 kernels), and the PyTorch peer, then prints one table per thread count and the
ratios the engine issue asks for. --json writes all rows to a file.
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_common import best_openblas_coretype, peer_blas_env  # noqa: E402


def run_lines(cmd, env=None):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--quick", action="store_true", help="tiny shapes only")
    ap.add_argument("--json", help="write all measurements here")
    args = ap.parse_args()
    exe = os.path.join(args.build, "bench", "bench_gemm")
    quick = ["--quick"] if args.quick else []
    rows = []
    for t in [int(x) for x in args.threads.split(",")]:
        ours = run_lines([exe, "--threads", str(t)] + quick)
        core = best_openblas_coretype(t)[0] or "Cooperlake"
        env = dict(os.environ, OPENBLAS_CORETYPE=core)
        tuned = {r["shape"]: r for r in run_lines([exe, "--threads", str(t)] + quick, env) if r["kind"] == "gemm"}
        torch_rows = {r["shape"]: r for r in run_lines(["/usr/bin/python3", os.path.join(HERE, "gemm_peer.py"),
                                                       "--threads", str(t)] + quick, peer_blas_env(os.environ, t))}
        peak = next(r for r in ours if r["kind"] == "peak")
        print(f"\nGEMM, {t} thread(s): register-only peak fp32 {peak['fp32_fma_gflops']:.0f} GFLOP/s, "
              f"bf16 {peak['bf16_dot_gflops']:.0f} GFLOP/s")
        print(f"{'shape':<18} {'op':<3} {'M':>5} {'N':>6} {'K':>5} | {'oneDNN':>7} {'%peak':>6} | {'OpenBLAS':>8} "
              f"{'+coretype':>9} {'torch':>7} | {'bf16':>7} {'torch':>7} | {'vs best lib':>11} {'vs torch':>8}")
        for r in (x for x in ours if x["kind"] == "gemm"):
            s = r["shape"]
            tr = torch_rows.get(s, {})
            best_lib = max(r["onednn_f32_gflops"], r["openblas_f32_gflops"], tuned[s]["openblas_f32_gflops"])
            row = dict(r, openblas_cooperlake_f32_gflops=tuned[s]["openblas_f32_gflops"],
                       torch_f32_gflops=tr.get("torch_f32_gflops"), torch_bf16_gflops=tr.get("torch_bf16_gflops"),
                       peak_fp32_gflops=peak["fp32_fma_gflops"], peak_bf16_gflops=peak["bf16_dot_gflops"])
            rows.append(row)
            print(f"{s:<18} {r['trans']:<3} {r['M']:>5} {r['N']:>6} {r['K']:>5} | {r['onednn_f32_gflops']:>7.0f} "
                  f"{100 * r['onednn_f32_gflops'] / peak['fp32_fma_gflops']:>5.0f}% | {r['openblas_f32_gflops']:>8.0f} "
                  f"{tuned[s]['openblas_f32_gflops']:>9.0f} {tr.get('torch_f32_gflops', 0):>7.0f} | "
                  f"{r['onednn_bf16_gflops']:>7.0f} {tr.get('torch_bf16_gflops', 0):>7.0f} | "
                  f"{r['onednn_f32_gflops'] / best_lib:>10.2f}x {r['onednn_f32_gflops'] / tr.get('torch_f32_gflops', 1):>7.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
