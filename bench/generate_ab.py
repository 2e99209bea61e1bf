#!/usr/bin/python3
"""Generation speed of two builds side by side: `bench_generate` of a base build (e.g. the commit
before a change) and of this build, interleaved A B A B ... in one invocation so that both see the
same machine, per thread count and weight format. Prints decode and prompt tokens/s of each (the
median over rounds) and new / base; the decode ratio is what "within 3%" refers to.

  git worktree add ../base <commit> && cmake -S ../base -B ../base/build -DCMAKE_BUILD_TYPE=Release \
      && cmake --build ../base/build --target bench_generate
  /usr/bin/python3 bench/generate_ab.py --base ../base/build --rounds 5
"""
import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_common import run_json  # noqa: E402
ROOT = os.path.dirname(HERE)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the base build folder (holds bench/bench_generate)")
    ap.add_argument("--new", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--formats", nargs="+", default=["f32", "bf16", "q8_0", "q4_0"])
    ap.add_argument("--prompt", default="128")
    ap.add_argument("--decode", default="128")
    ap.add_argument("--reps", default="3", help="bench_generate's own repetitions (median) per round")
    ap.add_argument("--rounds", type=int, default=3, help="A B alternations")
    ap.add_argument("--settle", type=float, default=0, help="before each run, wait up to this many seconds for an idle machine")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "bench_generate_ab.jsonl"), help="every measurement, one JSON line each")
    args = ap.parse_args()

    builds = {"base": args.base, "new": args.new}
    runs = {}  # (build, threads, format) -> [row, ...]
    for threads in args.threads:
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        cmd_tail = ["--threads", str(threads), "--prompt", args.prompt, "--decode", args.decode, "--reps", args.reps,
                    "--formats", *args.formats]
        for r in range(args.rounds):
            order = ["base", "new"] if r % 2 == 0 else ["new", "base"]  # neither always goes first
            for name in order:
                for row in run_json([os.path.join(builds[name], "bench", "bench_generate"), *cmd_tail], env, args.settle):
                    row.update(build=name, round=r)
                    runs.setdefault((name, threads, row["format"]), []).append(row)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        for rows in runs.values():
            for row in rows:
                f.write(json.dumps(row) + "\n")

    print(f"bench_generate, base = {args.base}, new = {args.new}: prompt {args.prompt}, decode {args.decode} tokens "
          f"(tokens/s, median of {args.rounds} rounds x median of {args.reps} reps)")
    # Per round, new / base of the two adjacent runs: their spread shows how much the machine moved.
    print(f"{'format':>6} {'thr':>3} | {'decode base':>11} {'new':>8} {'new/base':>8} {'per-round range':>15} | "
          f"{'prompt base':>11} {'new':>8} {'new/base':>8}")
    for threads in args.threads:
        for fmt in args.formats:
            med = {k: {m: statistics.median(r[m] for r in runs[(k, threads, fmt)]) for m in ("decode_tok_s", "prompt_tok_s")}
                   for k in builds}
            d, p = med["new"]["decode_tok_s"] / med["base"]["decode_tok_s"], med["new"]["prompt_tok_s"] / med["base"]["prompt_tok_s"]
            per_round = [n["decode_tok_s"] / b["decode_tok_s"] for b, n in zip(runs[("base", threads, fmt)], runs[("new", threads, fmt)])]
            spread = f"{min(per_round):.3f}-{max(per_round):.3f}"
            print(f"{fmt:>6} {threads:>3} | {med['base']['decode_tok_s']:>11.2f} {med['new']['decode_tok_s']:>8.2f} {d:>8.3f} {spread:>15} | "
                  f"{med['base']['prompt_tok_s']:>11.1f} {med['new']['prompt_tok_s']:>8.1f} {p:>8.3f}")


if __name__ == "__main__":
    main()
