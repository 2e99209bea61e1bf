#!/usr/bin/python3
"""conv2d side by side: the engine's im2col + oneDNN GEMM (bench_conv) and PyTorch's F.conv2d on
the same shapes and threads, forward and forward + backward, best of --reps runs each. The shapes
(bench/conv_shapes.json) are the ResNet and ViT layers of the vision presets at Fashion-MNIST size.
Timings mean something only on an idle machine (bench_common.wait_for_idle waits for one)."""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_common import torch_threads_env, wait_for_idle  # noqa: E402


def torch_rows(shapes, threads, reps):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    rows = {}
    for s in shapes:
        x = torch.rand(s["B"], s["C"], s["H"], s["W"]) * 2 - 1
        w = (torch.rand(s["O"], s["C"], s["k"], s["k"]) - 0.5) * 0.2
        b = torch.zeros(s["O"])
        def fwd():
            with torch.no_grad():
                F.conv2d(x, w, b, s["stride"], s["pad"])
        xg, wg, bg = x.clone().requires_grad_(), w.clone().requires_grad_(), b.clone().requires_grad_()
        def train():
            F.conv2d(xg, wg, bg, s["stride"], s["pad"]).sum().backward()
            xg.grad = wg.grad = bg.grad = None
        out = {}
        for name, f in (("forward_ms", fwd), ("train_ms", train)):
            f()
            t = []
            for _ in range(reps):
                a = time.perf_counter()
                f()
                t.append((time.perf_counter() - a) * 1e3)
            out[name] = min(t)
        rows[s["name"]] = out
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="tiny shapes: a smoke run")
    ap.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)  # internal: run the PyTorch side
    args = ap.parse_args()
    spec = json.load(open(os.path.join(HERE, "conv_shapes.json")))
    shapes = spec["quick" if args.quick else "shapes"]
    if args.peer:
        print(json.dumps(torch_rows(shapes, args.threads, args.reps)))
        return
    if not args.quick:
        wait_for_idle(120)
    ours = subprocess.run([os.path.join(args.build, "bench", "bench_conv"), "--shapes", os.path.join(HERE, "conv_shapes.json"),
                           "--threads", str(args.threads), "--reps", str(args.reps)] + (["--quick"] if args.quick else []),
                          check=True, capture_output=True, text=True).stdout
    ours = [json.loads(l) for l in ours.splitlines() if l.startswith("{")]
    peer_cmd = ["/usr/bin/python3", os.path.abspath(__file__), "--peer", "--threads", str(args.threads), "--reps", str(args.reps)]
    peer = json.loads(subprocess.run(peer_cmd + (["--quick"] if args.quick else []), check=True, capture_output=True, text=True,
                                     env=torch_threads_env(os.environ, args.threads)).stdout)
    print(f"conv2d, {args.threads} thread(s), best of {args.reps}: milliseconds (ratio > 1: Cornerstone faster)")
    print(f"{'shape':<14} {'fwd':>8} {'torch':>8} {'ratio':>6} | {'fwd+bwd':>8} {'torch':>8} {'ratio':>6}")
    for r in ours:
        p = peer[r["shape"]]
        print(f"{r['shape']:<14} {r['forward_ms']:>8.3f} {p['forward_ms']:>8.3f} {p['forward_ms'] / r['forward_ms']:>5.2f}x | "
              f"{r['train_ms']:>8.3f} {p['train_ms']:>8.3f} {p['train_ms'] / r['train_ms']:>5.2f}x")


if __name__ == "__main__":
    main()
