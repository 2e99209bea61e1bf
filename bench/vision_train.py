#!/usr/bin/python3
"""Image-model training speed: Cornerstone's `pretrain` beside PyTorch 1.13 on the same model, batch
and optimizer, in one run.

For each preset (vit-tiny on Fashion-MNIST's 28 x 28 gray images; resnetv2-18 on them resized to
32 x 32; clip-tiny on 32 x 32 emoji with captions) and thread count, Cornerstone pretrains for
STEPS steps on the real data (its metrics.jsonl gives images/s per step), and the PyTorch peer
builds the same network from the run's config.json (tests/reference/models.py: the module trees of
transformers' ViTForImageClassification, BitForImageClassification and CLIPModel) and trains it
with torch.optim.AdamW on random batches of the same shape. Both sides report the median per-step
rate over steps 4..STEPS (steps 1-3 warm up). The peer runs at its best setting here: Debian's
OpenMP OpenBLAS with the fastest OPENBLAS_CORETYPE (a GEMM probe), jemalloc, and oneDNN for its
convolutions (PyTorch's default on this CPU). A run with fewer threads than cores is pinned to
that many cores on both sides.

    /usr/bin/python3 bench/vision_train.py                 # vit-tiny, resnetv2-18, clip-tiny at 1 and 2 threads
    /usr/bin/python3 bench/vision_train.py --models vit-tiny --threads 2 --steps 12
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
from bench_common import jemalloc_env, peer_blas_env  # noqa: E402

FASHION = "/usr/share/datasets/fashion-mnist"
WARMUP_STEPS = 3

_PEER = r"""
import json, statistics, sys, time
import torch
import torch.nn.functional as F
sys.path.insert(0, sys.argv[1])
from models import BitForImageClassification, CLIPModel, ViTForImageClassification
config, threads, steps, batch = json.load(open(sys.argv[2])), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
training = json.load(open(sys.argv[6]))["training"]
torch.set_num_threads(threads)
torch.manual_seed(0)
kind = config["model_type"]
model = {"vit": ViTForImageClassification, "bit": BitForImageClassification, "clip": CLIPModel}[kind](config)
opt = torch.optim.AdamW(model.parameters(), lr=training["lr"], betas=(training["beta1"], training["beta2"]),
                        eps=training["eps"], weight_decay=training["weight_decay"])
if kind == "clip":
    v, t = config["vision_config"], config["text_config"]
    pixels = torch.randn(batch, v.get("num_channels", 3), v["image_size"], v["image_size"])
    ids = torch.randint(1, t["vocab_size"], (batch, int(sys.argv[7])))
    ids[:, -1] = t["eos_token_id"]
    step = lambda: model(pixels, ids)[0]
else:
    pixels = torch.randn(batch, config.get("num_channels", 3), config["image_size"], config["image_size"])
    labels = torch.randint(0, len(config["id2label"]), (batch,))
    step = lambda: F.cross_entropy(model(pixels), labels)
rates = []
for s in range(steps):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = step()
    loss.backward()
    opt.step()
    rates.append(batch / (time.perf_counter() - t0))
print(json.dumps({"images_per_s": statistics.median(rates[3:]), "loss": float(loss)}))
"""


def pinned(cmd, threads):
    if threads < os.cpu_count():
        return ["taskset", "-c", f"0-{threads - 1}"] + cmd
    return cmd


def emoji_data(build):
    out = os.path.join(ROOT, "data", "bench-emoji")
    if not os.path.exists(os.path.join(out, "train.jsonl")):
        subprocess.check_call([os.path.join(build, "cornerstone"), "dataset", "emoji", "--out", out], stdout=subprocess.DEVNULL)
    return out


MODELS = {  # name: (preset, data)
    "vit-tiny": ("vit-tiny", lambda build: FASHION),
    "resnetv2-18": ("resnetv2-18", lambda build: FASHION),
    "clip-tiny": ("clip-tiny", emoji_data),
}


def cornerstone(build, preset, data, threads, steps, run_dir):
    cmd = [os.path.join(build, "cornerstone"), "--threads", str(threads), "pretrain", "--config", preset, "--data", data,
           "--out", run_dir, "--steps", str(steps)]
    subprocess.run(pinned(cmd, threads), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    lines = [json.loads(l) for l in open(os.path.join(run_dir, "metrics.jsonl")) if '"loss"' in l]
    key = "pairs_per_s" if "pairs_per_s" in lines[-1] else "images_per_s"
    return statistics.median(l[key] for l in lines[WARMUP_STEPS:])


def caption_width(build, data):
    """The peer's caption width: the longest training caption in tokens, end-of-text included
    (Cornerstone pads each batch to its longest caption, which for 128 drawn captions is near it)."""
    captions = []
    for line in open(os.path.join(data, "train.jsonl")):
        text = json.loads(line)["text"]
        captions += text if isinstance(text, list) else [text]
    out = subprocess.run([os.path.join(build, "cornerstone"), "tokenizer", "encode", "--tokenizer", os.path.join(data, "tokenizer.json"),
                          "--lines"], input="\n".join(captions) + "\n", capture_output=True, text=True, check=True).stdout
    return 1 + max(len(l.split()) for l in out.splitlines())


def torch_peer(run_dir, threads, steps, batch, caption_tokens):
    env = jemalloc_env(peer_blas_env(os.environ, threads))
    cmd = ["/usr/bin/python3", "-c", _PEER, os.path.join(ROOT, "tests", "reference"), os.path.join(run_dir, "config.json"),
           str(threads), str(steps), str(batch), os.path.join(run_dir, "training.json"), str(caption_tokens)]
    r = subprocess.run(pinned(cmd, threads), env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"PyTorch peer failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])["images_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--models", default="vit-tiny,resnetv2-18,clip-tiny")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.steps <= WARMUP_STEPS + 2:
        raise SystemExit(f"--steps must be above {WARMUP_STEPS + 2} (the first {WARMUP_STEPS} warm up)")
    rows = []
    print(f"{'model':<13} {'thr':>3} {'batch':>5} {'cornerstone img/s':>17} {'PyTorch img/s':>13} {'ratio':>6}", flush=True)
    for name in args.models.split(","):
        preset, data_of = MODELS[name]
        data = data_of(args.build)
        for t in [int(x) for x in args.threads.split(",")]:
            with tempfile.TemporaryDirectory() as tmp:
                run_dir = os.path.join(tmp, "run")
                cs = cornerstone(args.build, preset, data, t, args.steps, run_dir)
                batch = json.load(open(os.path.join(run_dir, "training.json")))["training"]["batch_size"]
                peer = torch_peer(run_dir, t, args.steps, batch, caption_width(args.build, data) if name == "clip-tiny" else 0)
            rows.append({"model": name, "threads": t, "batch": batch, "cornerstone_images_per_s": cs, "torch_images_per_s": peer,
                         "ratio": cs / peer})
            print(f"{name:<13} {t:>3} {batch:>5} {cs:>17.1f} {peer:>13.1f} {cs / peer:>5.2f}x", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
