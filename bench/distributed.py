#!/usr/bin/env python3
"""Data-parallel pretraining throughput under mpirun (docs/distributed.md).

For each config, side by side in one invocation, every run the same steps and the same statistic
(the median of the per-step global tokens/s after the warm-up steps, from metrics.jsonl):

  1 rank  x 1 thread,  batch B        the baseline
  2 ranks x 1 thread,  batch B each   data parallel (global batch 2B): the ratio to the baseline
  1 rank  x 2 threads, batch 2B       the same global batch on the same cores, one process
  2 ranks x 1 thread,  batch B        tensor parallel (--tensor-parallel 2): one replica of the
                                      model split over the two, each step the baseline's batch

and the median time per step spent on the gradient all-reduce (comm ms: starting, polling and
finishing the buckets' collectives, which run during the backward pass) with its share of the step.
Usage: bench/distributed.py --build build [--configs tiny,gpt2-small] [--quick]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from train import CONFIGS, WARMUP_STEPS, prepare_data  # noqa: E402

BATCH = {"tiny": 8, "char": 8, "gpt2-small": 4}


def run(build, ranks, threads, preset, data, T, batch, steps, extra=()):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "run")
        cmd = [os.path.join(build, "cornerstone"), "--threads", str(threads), "pretrain", "--config", preset, "--data", data,
               "--out", out, "--steps", str(steps), "--context", str(T), "--batch", str(batch)] + list(extra)
        if ranks > 1:
            cmd = ["mpirun", "-np", str(ranks), "--bind-to", "core", "--oversubscribe"] + cmd
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lines = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl")) if '"loss"' in l]
    steady = lines[WARMUP_STEPS:]
    tps = statistics.median(l["tokens_per_s"] for l in steady)
    comm = statistics.median(l.get("comm_ms", 0.0) for l in steady)
    replicas = ranks // 2 if "--tensor-parallel" in extra else ranks
    step_ms = statistics.median(1e3 * batch * replicas * T / l["tokens_per_s"] for l in steady)
    return tps, comm, step_ms


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--configs", default="tiny,gpt2-small")
    ap.add_argument("--quick", action="store_true", help="tiny only")
    args = ap.parse_args()
    configs = ["tiny"] if args.quick else args.configs.split(",")
    print(f"{'config':<12} {'run':<22} {'tokens/s':>10} {'x base':>7} {'comm ms':>8} {'comm %':>7}")
    for name in configs:
        preset, kind, T, steps = CONFIGS[name]
        steps = max(steps, WARMUP_STEPS + 5)
        data = prepare_data(args.build, kind)
        B = BATCH[name]
        base, _, _ = run(args.build, 1, 1, preset, data, T, B, steps)
        rows = [("1 rank x 1 thread", base, 0.0, 0.0),
                ("2 ranks x 1 thread", *run(args.build, 2, 1, preset, data, T, B, steps)),
                ("1 rank x 2 threads", *run(args.build, 1, 2, preset, data, T, 2 * B, steps)),
                ("2 ranks, tensor parallel", *run(args.build, 2, 1, preset, data, T, B, steps, ("--tensor-parallel", "2")))]
        for label, tps, comm, step_ms in rows:
            share = 100.0 * comm / step_ms if step_ms else 0.0
            print(f"{name:<12} {label:<22} {tps:>10.0f} {tps / base:>7.2f} {comm:>8.1f} {share:>6.1f}%")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
