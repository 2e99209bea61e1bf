#!/usr/bin/python3
"""Generation speed: Cornerstone per weight format beside PyTorch 1.13 eager with a KV cache, and
against the roofline, in the same invocation.

For each thread count, runs build/bench/bench_generate (f32, bf16, q8_0, q4_0 on a randomly
initialised 124M GPT-2, and on the llama-small shape: RoPE, RMSNorm, SwiGLU, GQA, which has no
PyTorch peer here, so its rows stand against the roofline alone) and bench/generate_peer.py (float32 with OPENBLAS_CORETYPE as this machine
exports it and with the fastest core type found by a GEMM probe, bfloat16, and dynamic qint8), interleaved. Prints, per format and thread
count: prompt tokens/s (pp512) and its share of the GEMM peak (f32: sgemm; the others: bf16 GEMM),
decode tokens/s (tg128, from an empty cache) and its share of the roofline (read bandwidth
measured on a buffer the size of the format's weights, read over and over as decode reads them /
weight bytes read per token: a model that fits in the last-level cache is held to cache bandwidth), and the speed-ups over PyTorch fp32 eager (the faster of
its two OpenBLAS settings) and over PyTorch's nearest format (bf16 for bf16, qint8 for q8_0/q4_0).
Every measurement is also written as a JSON line to --out.

  /usr/bin/python3 bench/generate.py                       # 1 and 2 threads, 3 reps each
  /usr/bin/python3 bench/generate.py --threads 2 --settle 600   # on a shared machine: wait for idle CPUs
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_common import jemalloc_env, peer_blas_env, run_json, torch_threads_env  # noqa: E402
ROOT = os.path.dirname(HERE)
FORMATS = ["f32", "bf16", "q8_0", "q4_0"]
NEAREST_TORCH = {"f32": "float32", "bf16": "bfloat16", "q8_0": "qint8", "q4_0": "qint8"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--prompt", default="512")
    ap.add_argument("--decode", default="128")
    ap.add_argument("--reps", default="3")
    ap.add_argument("--llama", default="llama-small", help="the Llama-shaped preset decoded beside GPT-2 ('' to skip)")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "bench_generate.jsonl"))
    ap.add_argument("--settle", type=float, default=0, help="before each run, wait up to this many seconds for an idle machine")
    ap.add_argument("--quick", action="store_true", help="prompt 128, decode 32, one rep")
    args = ap.parse_args()
    if args.quick:
        args.prompt, args.decode, args.reps = "128", "32", "1"
    exported = os.environ.get("OPENBLAS_CORETYPE")

    rows = []
    for threads in args.threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        shape = ["--threads", str(threads), "--prompt", args.prompt, "--decode", args.decode, "--reps", args.reps]
        rows += run_json([os.path.join(args.build, "bench", "bench_generate"), *shape, "--formats", *FORMATS], env, args.settle)
        if args.llama:
            for r in run_json([os.path.join(args.build, "bench", "bench_generate"), *shape, "--preset", args.llama,
                               "--formats", *FORMATS], env, args.settle):
                rows.append(dict(r, impl="cornerstone-llama"))
        # Every peer with the default allocator and with tuned jemalloc (the training benchmark's
        # fastest setting); the tables take the fastest torch run of each dtype.
        peers = [("float32", exported), ("float32", "best"), ("bfloat16", exported), ("qint8", exported)]
        for dtype, coretype in peers:
            if coretype == "best":  # the fastest core type here (bench_common.best_openblas_coretype)
                penv = peer_blas_env(env, threads)
            else:
                penv = torch_threads_env(env, threads)
                penv.pop("OPENBLAS_CORETYPE", None)
                if coretype:
                    penv["OPENBLAS_CORETYPE"] = coretype
            for allocator_env in (penv, jemalloc_env(penv)):
                rows += run_json([sys.executable, os.path.join(HERE, "generate_peer.py"), *shape, "--dtype", dtype],
                                 allocator_env, args.settle)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")

    print(f"GPT-2 124M (random weights): prompt = one pass over {args.prompt} tokens, decode = {args.decode} tokens "
          f"one at a time from an empty cache (tokens/s, median of {args.reps})")
    print(f"{'format':>6} {'thr':>3} | {'prompt':>8} {'%peak':>6} | {'decode':>7} {'roofline':>8} {'%roof':>6} | "
          f"{'vs torch fp32':>15} | {'vs torch nearest':>24}")
    for threads in args.threads:
        torch_rows = [r for r in rows if r["impl"] == "torch" and r["threads"] == threads]

        def best(dtype, key):
            return max(r[key] for r in torch_rows if r["dtype"] == dtype)

        for fmt in FORMATS:
            cs = next(r for r in rows if r["impl"] == "cornerstone" and r["threads"] == threads and r["format"] == fmt)
            flops = cs["prompt_gflops"] / cs["prompt_tok_s"]  # GFLOP per prompt token
            near = NEAREST_TORCH[fmt]
            print(f"{fmt:>6} {threads:>3} | {cs['prompt_tok_s']:>8.0f} {100 * cs['prompt_gflops'] / cs['gemm_peak_gflops']:>5.0f}% | "
                  f"{cs['decode_tok_s']:>7.1f} {cs['roofline_tok_s']:>8.1f} {100 * cs['decode_tok_s'] / cs['roofline_tok_s']:>5.0f}% | "
                  f"{cs['prompt_tok_s'] / best('float32', 'prompt_tok_s'):>6.1f}x {cs['decode_tok_s'] / best('float32', 'decode_tok_s'):>6.1f}x | "
                  f"{near:>8} {cs['prompt_tok_s'] / best(near, 'prompt_tok_s'):>6.1f}x {cs['decode_tok_s'] / best(near, 'decode_tok_s'):>6.1f}x")
        for r in torch_rows:
            print(f"  torch {r['dtype']:>8} {threads} thr, OPENBLAS_CORETYPE={r['openblas_coretype'] or '(unset)':<10}"
                  f"{' jemalloc' if r.get('jemalloc') else ' default allocator'}, {r.get('cache', 'concat')} cache: "
                  f"prompt {r['prompt_tok_s']:7.0f}  decode {r['decode_tok_s']:6.1f}")
        cs = [r for r in rows if r["impl"] == "cornerstone" and r["threads"] == threads]
        print(f"  machine at {threads} thr: read bandwidth {cs[0]['dram_bandwidth_gbs']:.1f} GB/s from DRAM (1 GiB), "
              + ", ".join(f"{r['bandwidth_gbs']:.0f} over {r['decode_bytes'] / 2**20:.0f} MiB ({r['format']})" for r in cs)
              + "; GEMM peak sgemm / bf16: "
              + " / ".join(f"{next(r['gemm_peak_gflops'] for r in cs if r['format'] == f):.0f}" for f in ("f32", "bf16"))
              + f" GFLOP/s; {flops * 1e3:.0f} MFLOP per prompt token")
    if args.llama:
        print(f"{args.llama} (random weights, no PyTorch peer): the same passes, against the roofline alone")
        print(f"{'format':>6} {'thr':>3} | {'prompt':>8} {'%peak':>6} | {'decode':>7} {'roofline':>8} {'%roof':>6} | read GB/s over the weights")
        for threads in args.threads:
            for r in (r for r in rows if r["impl"] == "cornerstone-llama" and r["threads"] == threads):
                print(f"{r['format']:>6} {threads:>3} | {r['prompt_tok_s']:>8.0f} {100 * r['prompt_gflops'] / r['gemm_peak_gflops']:>5.0f}% | "
                      f"{r['decode_tok_s']:>7.1f} {r['roofline_tok_s']:>8.1f} {100 * r['decode_tok_s'] / r['roofline_tok_s']:>5.0f}% | "
                      f"{r['bandwidth_gbs']:.0f} over {r['decode_bytes'] / 2**20:.0f} MiB")
    print("(speed-ups: prompt, decode; all measurements: " + args.out + ")")


if __name__ == "__main__":
    main()
