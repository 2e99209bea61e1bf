"""Helpers shared by the side-by-side benchmark drivers."""
import json
import subprocess
import time


def cpu_times():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return v[3] + v[4], sum(v)  # idle + iowait, total


def wait_for_idle(limit_s):
    """On a shared machine, waits (up to limit_s) until the CPUs have been >= 92% idle for 5 s."""
    deadline, quiet = time.time() + limit_s, 0
    idle0, total0 = cpu_times()
    while quiet < 5 and time.time() < deadline:
        time.sleep(1)
        idle1, total1 = cpu_times()
        quiet = quiet + 1 if (idle1 - idle0) >= 0.92 * max(1, total1 - total0) else 0
        idle0, total0 = idle1, total1


def run_json(cmd, env, settle):
    if settle:
        wait_for_idle(settle)
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


OPENBLAS_OPENMP = "/usr/lib/x86_64-linux-gnu/openblas-openmp"


def torch_threads_env(env, threads):
    """The environment for a PyTorch peer on `threads` threads: Debian's OpenMP build of OpenBLAS,
    which shares PyTorch's OpenMP pool, and both sized to `threads`. (libblas.so.3 selects the
    pthreads build here, whose own pool fights PyTorch's for the cores and ignores
    torch.set_num_threads: tiny's fp32 training step runs ~1.7x slower with it at 2 threads.)"""
    env = dict(env)
    env["LD_LIBRARY_PATH"] = OPENBLAS_OPENMP + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


# OPENBLAS_CORETYPE candidates for the PyTorch peers ("" = OpenBLAS's own CPU detection). Debian 12's
# OpenBLAS 0.3.21 does not know every CPU these benchmarks meet: on Zen 5 its detection picked the
# AVX2 kernels, on Emerald Rapids (Xeon, model 207) the SSE3 "Prescott" fallback, about 3.4x slower
# than its AVX-512 kernels there. So the peer's core type is chosen by measurement, never assumed.
OPENBLAS_CORES = ("", "SapphireRapids", "Cooperlake", "SkylakeX", "Zen", "Haswell")

_PROBE = r"""
import os, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
a, b = torch.randn(4096, 384), torch.randn(384, 1536)
for _ in range(3): a @ b
best = 0.0
for _ in range(3):
    t = time.perf_counter()
    for _ in range(8): a @ b
    best = max(best, 8 * 2 * 4096 * 384 * 1536 / (time.perf_counter() - t) / 1e9)
print(best)
"""

_best_core = {}


def best_openblas_coretype(threads):
    """(coretype, detected, gflops): the OPENBLAS_CORETYPE ("" = none) under which torch's fp32 GEMM
    on the OpenMP OpenBLAS is fastest at `threads` threads, the core OpenBLAS detects by itself, and
    the GFLOP/s of each candidate. Measured once per process (about 10 s)."""
    if threads not in _best_core:
        import os
        rates, detected = {}, "?"
        for core in OPENBLAS_CORES:
            env = torch_threads_env(os.environ, threads)
            env.pop("OPENBLAS_CORETYPE", None)
            if core:
                env["OPENBLAS_CORETYPE"] = core
            env["OPENBLAS_VERBOSE"] = "2"
            r = subprocess.run(["/usr/bin/python3", "-c", _PROBE, str(threads)], env=env, capture_output=True, text=True)
            if r.returncode != 0:
                continue
            rates[core] = float(r.stdout.strip().splitlines()[-1])
            if not core:
                detected = next((l.split(":", 1)[1].strip() for l in (r.stdout + r.stderr).splitlines()
                                 if l.startswith("Core:")), "?")
        best = max(rates, key=rates.get)
        if rates.get("", 0) >= 0.97 * rates[best]:  # within noise of its own choice: leave it alone
            best = ""
        _best_core[threads] = (best, detected, rates)
    return _best_core[threads]


def peer_blas_env(env, threads):
    """torch_threads_env with OPENBLAS_CORETYPE set to the fastest core type (or unset when
    OpenBLAS's own detection is as fast), and a line on stderr saying which."""
    import sys
    core, detected, rates = best_openblas_coretype(threads)
    env = torch_threads_env(env, threads)
    env.pop("OPENBLAS_CORETYPE", None)
    if core:
        env["OPENBLAS_CORETYPE"] = core
    if not getattr(peer_blas_env, "said", set()) >= {threads}:
        peer_blas_env.said = getattr(peer_blas_env, "said", set()) | {threads}
        table = ", ".join(f"{c or 'detected'} {g:.0f}" for c, g in rates.items())
        print(f"PyTorch peer, {threads} thread(s): OpenBLAS detects '{detected}'; fp32 GEMM GFLOP/s: {table}; "
              f"peers run with OPENBLAS_CORETYPE={core or '(unset)'}", file=sys.stderr, flush=True)
    return env


JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
JEMALLOC_CONF = "oversize_threshold:0,dirty_decay_ms:-1,muzzy_decay_ms:-1"


def jemalloc_env(env):
    """A copy of env that runs a PyTorch peer on jemalloc with the settings that made it fastest in
    bench/train.py (no decay: freed pages stay mapped for the next step)."""
    env = dict(env)
    env["LD_PRELOAD"] = JEMALLOC
    env["MALLOC_CONF"] = JEMALLOC_CONF
    return env
