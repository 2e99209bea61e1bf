#!/usr/bin/python3
"""Fused attention vs the PyTorch composite, in the same invocation.

Runs build/bench/bench_attention and bench/attention_peer.py at each thread count, the peer both with
OpenBLAS's own CPU detection (OPENBLAS_CORETYPE unset) and with the core type that gives PyTorch's
fp32 GEMM its best speed here (bench_common.best_openblas_coretype), then prints a table and
the speed-up over the faster peer. Every measurement is also written as a JSON line to --out.

  /usr/bin/python3 bench/attention.py                       # B=8 H=12 D=64, T=256 512 1024, 1 and 2 threads
  /usr/bin/python3 bench/attention.py --threads 2 --T 1024 --reps 3
  /usr/bin/python3 bench/attention.py --settle 600         # on a shared machine: wait for idle CPUs
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_common import peer_blas_env, run_json, torch_threads_env  # noqa: E402
ROOT = os.path.dirname(HERE)
PEER_ENVS = {"openblas-auto": None, "openblas-best": "best"}  # best: bench_common.best_openblas_coretype


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--T", nargs="+", default=["256", "512", "1024"])
    ap.add_argument("--B", default="8")
    ap.add_argument("--H", default="12")
    ap.add_argument("--D", default="64")
    ap.add_argument("--reps", default="5")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "bench_attention.jsonl"))
    ap.add_argument("--settle", type=float, default=0,
                    help="before each run, wait up to this many seconds for an idle machine")
    args = ap.parse_args()

    # One process per (threads, T, implementation), interleaved, so that a burst of other work on a
    # shared machine hits both sides alike.
    rows = []
    for threads in args.threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        for T in args.T:
            shape = ["--threads", str(threads), "--B", args.B, "--H", args.H, "--D", args.D, "--reps", args.reps, "--T", T]
            rows += run_json([os.path.join(args.build, "bench", "bench_attention"), *shape], env, args.settle)
            for name, coretype in PEER_ENVS.items():
                if coretype == "best":
                    penv = peer_blas_env(env, threads)
                else:
                    penv = torch_threads_env(env, threads)
                    penv.pop("OPENBLAS_CORETYPE", None)
                for r in run_json([sys.executable, os.path.join(HERE, "attention_peer.py"), *shape], penv, args.settle):
                    r["impl"] = "torch/" + name
                    rows.append(r)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")

    print(f"attention forward+backward, causal, B={args.B} H={args.H} D={args.D} (median ms of {args.reps}; "
          f"speed-up = best torch / cornerstone)")
    print(f"{'threads':>7} {'T':>5} {'cornerstone':>12} {'torch auto':>11} {'torch best':>11} {'speed-up':>9}"
          f" | {'fwd only':>9} {'fwd speed-up':>12}")
    for threads in args.threads:
        for T in args.T:
            pick = lambda impl: next(r for r in rows if r["impl"] == impl and r["threads"] == threads and r["T"] == int(T))
            # The peer keys are PEER_ENVS' names; "best" is the OPENBLAS_CORETYPE bench_common measured
            # fastest (it used to be looked up as "cooperlake", a key no run wrote: make bench stopped here).
            cs, auto, best = pick("cornerstone"), pick("torch/openblas-auto"), pick("torch/openblas-best")
            best_fb = min(auto["fwdbwd_ms"], best["fwdbwd_ms"])
            best_f = min(auto["fwd_ms"], best["fwd_ms"])
            print(f"{threads:>7} {T:>5} {cs['fwdbwd_ms']:>12.1f} {auto['fwdbwd_ms']:>11.1f} {best['fwdbwd_ms']:>11.1f}"
                  f" {best_fb / cs['fwdbwd_ms']:>8.1f}x | {cs['fwd_ms']:>9.1f} {best_f / cs['fwd_ms']:>11.1f}x")
    print(f"(all measurements: {args.out})")


if __name__ == "__main__":
    main()
