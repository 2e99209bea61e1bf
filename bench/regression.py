#!/usr/bin/python3
"""Two Cornerstone builds side by side: training and generation speed of a change against the
commit before it, in one run (issue 19: "within 3% of a build of the commit before the change").

Training: `pretrain` on the bench presets (tiny, char, gpt2-small at context 256), fp32 and (where
the CPU has AVX512-BF16) bf16, tokens/s as bench/train.py measures it (median of the steady steps).
Generation: build/bench/bench_generate per weight format (prompt and decode tokens/s). Runs
alternate base / new, `--reps` times each, and the median of each side is compared. Prints
new / base per row; exits 1 when a row is below 1 - --tolerance.

  git worktree add /tmp/base <commit> && cmake -S /tmp/base -B /tmp/base/build && cmake --build /tmp/base/build -j
  /usr/bin/python3 bench/regression.py --base /tmp/base/build --new build
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_common import run_json  # noqa: E402
from train import cornerstone, prepare_data  # noqa: E402

TRAIN = [("tiny", "gpt2", 256, 12), ("char", "bytes", 256, 12), ("gpt2-small", "gpt2", 256, 8)]
FORMATS = ["f32", "bf16", "q8_0", "q4_0"]


def has_bf16():
    try:
        return "avx512_bf16" in open("/proc/cpuinfo").read()
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="build folder of the commit before the change")
    ap.add_argument("--new", required=True, help="build folder of the change")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tolerance", type=float, default=0.03)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-generate", action="store_true")
    args = ap.parse_args()
    builds = {"base": os.path.abspath(args.base), "new": os.path.abspath(args.new)}
    rows = []  # (name, base values, new values)

    if not args.skip_train:
        precisions = ["f32"] + (["bf16"] if has_bf16() else [])
        for preset, kind, T, steps in TRAIN:
            data = prepare_data(builds["new"], kind)
            for prec in precisions:
                got = {"base": [], "new": []}
                for _ in range(args.reps):
                    for side in ("base", "new"):
                        got[side].append(cornerstone(builds[side], preset, data, T, args.threads, steps, prec)["tokens_per_s"])
                rows.append((f"train {preset} {prec} tok/s", got["base"], got["new"]))
                print(f"  {rows[-1][0]}: base {statistics.median(got['base']):.0f}, new {statistics.median(got['new']):.0f}",
                      file=sys.stderr)

    if not args.skip_generate:
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        shape = ["--threads", str(args.threads), "--prompt", "512", "--decode", "128", "--reps", "3", "--formats", *FORMATS]
        got = {"base": [], "new": []}
        for _ in range(args.reps):
            for side in ("base", "new"):
                got[side] += run_json([os.path.join(builds[side], "bench", "bench_generate"), *shape], env, 0)
        for fmt in FORMATS:
            for key in ("prompt_tok_s", "decode_tok_s"):
                b = [r[key] for r in got["base"] if r["format"] == fmt]
                n = [r[key] for r in got["new"] if r["format"] == fmt]
                rows.append((f"generate {fmt} {key.split('_')[0]} tok/s", b, n))

    print(f"{'':<34} {'base':>10} {'new':>10} {'new/base':>9}   ({args.threads} threads, median of {args.reps})")
    worst = 1e9
    for name, b, n in rows:
        mb, mn = statistics.median(b), statistics.median(n)
        ratio = mn / mb if mb > 0 else float("nan")
        worst = min(worst, ratio)
        flag = "" if ratio >= 1 - args.tolerance else "  <-- slower"
        print(f"{name:<34} {mb:>10.1f} {mn:>10.1f} {ratio:>9.3f}{flag}")
    return 0 if worst >= 1 - args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
