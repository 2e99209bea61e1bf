#!/usr/bin/env python3
"""Memory per process under mpirun: ZeRO-1 / ZeRO-2 and tensor parallelism (docs/distributed.md).

For one config (default gpt2-small, context 256, batch 4 per replica, 1 thread per process), runs a
few optimizer steps at 1, 2 and 4 processes with --zero 0, 1 and 2, and with --tensor-parallel 2,
and prints for each run what every process reports:

  parameters / gradients / AdamW MB    the bytes the job printed at start (ZeRO's formulas:
                                        4P, 4P or 4P / N (ZeRO-2), 8P or 8P / N (ZeRO-1 and 2))
  tensors MB                            the largest peak of tensor memory (the caching allocator's
                                        bytes in use) over the processes' steps
  RSS MB                                the processes' own high-water marks ("rank r of N: peak
                                        RSS"): rank 0, which also gathers the whole checkpoint
                                        for writing, and the largest of the other ranks; RSS
                                        also holds the allocator's cache of freed blocks (up to
                                        256 MiB), MPI's buffers and the libraries
  x 1                                   the ratio to 1 process

Usage: bench/distributed_memory.py --build build [--config gpt2-small] [--steps 4] [--quick]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from train import CONFIGS, prepare_data  # noqa: E402

CHECKPOINT = True  # activation checkpointing: the gradients, not the activations, set the peak
HELD = re.compile(r"parameters ([\d.]+) MB, gradients ([\d.]+) MB \([^)]*\), AdamW state ([\d.]+) MB")
RSS = re.compile(r"rank (\d+) of (\d+): peak RSS (\d+) MB, peak tensor memory (\d+) MB")


def run(build, ranks, preset, data, T, batch, steps, extra):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    with tempfile.TemporaryDirectory() as d:
        cmd = ["mpirun", "-np", str(ranks), "--bind-to", "none", "--oversubscribe", os.path.join(build, "cornerstone"), "--threads", "1",
               "pretrain", "--config", preset, "--data", data, "--out", os.path.join(d, "run"), "--steps", str(steps), "--context", str(T),
               "--batch", str(batch)] + (["--checkpoint-activations"] if CHECKPOINT else []) + extra
        p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout[-3000:]}")
    held = HELD.search(p.stdout)
    found = {int(m.group(1)): (int(m.group(3)), int(m.group(4))) for m in RSS.finditer(p.stdout)}
    if len(found) != ranks:
        sys.exit(f"expected {ranks} 'peak RSS' lines, got {len(found)}:\n{p.stdout[-3000:]}")
    others = [rss for r, (rss, _) in found.items() if r != 0]
    tensors = max(t for _, t in found.values())
    return (tuple(float(x) for x in held.groups()) if held else None), tensors, found[0][0], (max(others) if others else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--config", default="gpt2-small")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--quick", action="store_true", help="the tiny config, 2 steps")
    args = ap.parse_args()
    name = "tiny" if args.quick else args.config
    steps = 2 if args.quick else args.steps
    preset, kind, T, _ = CONFIGS[name]
    data = prepare_data(args.build, kind)
    B = 4
    runs = [("1 process", 1, B, []),
            ("2 ranks, data parallel", 2, B, []), ("2 ranks, --zero 1", 2, B, ["--zero", "1"]), ("2 ranks, --zero 2", 2, B, ["--zero", "2"]),
            ("2 ranks, --tensor-parallel 2", 2, B, ["--tensor-parallel", "2"]),
            ("4 ranks, data parallel", 4, B, []), ("4 ranks, --zero 1", 4, B, ["--zero", "1"]), ("4 ranks, --zero 2", 4, B, ["--zero", "2"]),
            ("4 ranks, tensor 2 x data 2", 4, B, ["--tensor-parallel", "2"])]
    print(f"{name}, context {T}, batch {B} rows per process (per replica under tensor parallelism), 1 thread per process, {steps} steps")
    print(f"{'run':<30} {'params MB':>10} {'grads MB':>9} {'AdamW MB':>9} | {'tensors MB':>10} {'x 1':>5} | "
          f"{'RSS MB: rank 0':>14} {'x 1':>5} | {'other ranks':>11} {'x 1':>5}")
    base = None
    for label, ranks, batch, extra in runs:
        held, tensors, rank0, others = run(args.build, ranks, preset, data, T, batch, steps, extra)
        base = base or (tensors, rank0)
        p, g, a = (f"{x:.1f}" for x in held) if held else ("-", "-", "-")
        rest = f"{others:>11} {others / base[1]:>5.2f}" if others else f"{'-':>11} {'':>5}"
        print(f"{label:<30} {p:>10} {g:>9} {a:>9} | {tensors:>10} {tensors / base[0]:>5.2f} | {rank0:>14} {rank0 / base[1]:>5.2f} | {rest}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
