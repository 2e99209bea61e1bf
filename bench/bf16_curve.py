#!/usr/bin/python3
"""bf16 mixed precision against fp32 over a real training run: the validation-loss curves of the
same model, seed, data and schedule, trained `--steps` steps (default 500) with `--precision f32`
and `--precision bf16`, side by side, and the relative gap at every evaluation.

The target (issue 9) is a bf16 validation loss within 1% of fp32's after 500 steps; the script
exits non-zero when the final gap is larger than --tolerance (default 0.01), so `make bench` shows
it failing rather than printing a number nobody checks.

  /usr/bin/python3 bench/bf16_curve.py [--configs tiny,char] [--steps 500] [--threads 2]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from train import CONFIGS, ROOT, prepare_data  # noqa: E402

BATCH = {"tiny": 8, "char": 16, "gpt2-small": 4}
MODEL = {"tiny": "gpt2-tiny", "char": "char", "gpt2-small": "gpt2-small"}


def run(build, name, data, steps, threads, precision, eval_every):
    preset, _, T, _ = CONFIGS[name]  # (preset, data, context, steps of the speed benchmark)
    config = {"model": MODEL[preset],
              "training": {"batch_size": BATCH[preset], "context": T, "steps": steps, "precision": precision,
                           "eval_every": eval_every, "eval_batches": 20, "checkpoint_every": 0}}
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "config.json")
        with open(cfg, "w") as f:
            json.dump(config, f)
        out = os.path.join(d, "run")
        t0 = time.time()
        subprocess.run([os.path.join(build, "cornerstone"), "--threads", str(threads), "pretrain", "--config", cfg,
                        "--data", data, "--out", out], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.time() - t0
        lines = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl"))]
    return {l["step"]: l["val_loss"] for l in lines if "val_loss" in l}, seconds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--configs", default="tiny")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=0.01, help="largest allowed final |bf16 - fp32| / fp32")
    args = ap.parse_args()
    failed = False
    for name in args.configs.split(","):
        data = prepare_data(args.build, CONFIGS[name][1])
        f32, t32 = run(args.build, name, data, args.steps, args.threads, "f32", args.eval_every)
        b16, t16 = run(args.build, name, data, args.steps, args.threads, "bf16", args.eval_every)
        print(f"{name}: validation loss, {args.steps} steps, {args.threads} threads "
              f"(fp32 run {t32:.0f} s, bf16 run {t16:.0f} s)")
        print(f"{'step':>6} {'fp32':>8} {'bf16':>8} {'gap':>8}")
        for step in sorted(set(f32) & set(b16)):
            gap = (b16[step] - f32[step]) / f32[step]
            print(f"{step:>6} {f32[step]:>8.4f} {b16[step]:>8.4f} {100 * gap:>+7.2f}%")
        last = max(set(f32) & set(b16))
        gap = abs(b16[last] - f32[last]) / f32[last]
        ok = last == args.steps and gap <= args.tolerance
        print(f"{name}: final gap {100 * gap:.2f}% at step {last} "
              f"({'within' if ok else 'NOT within'} {100 * args.tolerance:.0f}%)", flush=True)
        failed |= not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
