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
