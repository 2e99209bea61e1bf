#!/usr/bin/python3
"""Training speed of two Cornerstone builds side by side: a change against the commit before it, in
one run (the "no regression" check of a change; bench/generate_ab.py is its generation twin).

`pretrain` on the bench presets (tiny, char, gpt2-small at context 256), fp32 and (where the CPU
has AVX512-BF16) bf16, tokens/s as bench/train.py measures it (median of the steady steps). Runs
alternate base / new, `--reps` times each, and the median of each side is compared. Prints
new / base per row; exits 1 when a row is below 1 - --tolerance.

  git worktree add ../base <commit> && cmake -S ../base -B ../base/build -DCMAKE_BUILD_TYPE=Release \
      && cmake --build ../base/build --target cornerstone_cli
  /usr/bin/python3 bench/train_ab.py --base ../base/build --new build
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from train import cornerstone, prepare_data  # noqa: E402

TRAIN = [("tiny", "gpt2", 256, 12), ("char", "bytes", 256, 12), ("gpt2-small", "gpt2", 256, 8)]


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
    ap.add_argument("--presets", nargs="+", default=[t[0] for t in TRAIN], help="training presets to compare")
    args = ap.parse_args()
    builds = {"base": os.path.abspath(args.base), "new": os.path.abspath(args.new)}
    rows = []  # (name, base values, new values)

    precisions = ["f32"] + (["bf16"] if has_bf16() else [])
    for preset, kind, T, steps in [t for t in TRAIN if t[0] in args.presets]:
        data = prepare_data(builds["new"], kind)
        for prec in precisions:
            got = {"base": [], "new": []}
            for _ in range(args.reps):
                for side in ("base", "new"):
                    got[side].append(cornerstone(builds[side], preset, data, T, args.threads, steps, prec)["tokens_per_s"])
            rows.append((f"train {preset} {prec} tok/s", got["base"], got["new"]))
            print(f"  {rows[-1][0]}: base {statistics.median(got['base']):.0f}, new {statistics.median(got['new']):.0f}",
                  file=sys.stderr)

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
