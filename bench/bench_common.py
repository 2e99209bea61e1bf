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
