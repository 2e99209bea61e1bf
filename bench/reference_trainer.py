#!/usr/bin/python3
"""The PyTorch 1.13 reference trainer: the same model, initialisation, optimizer, schedule and
batches as `cornerstone pretrain`, for side-by-side benchmarks.

    reference_trainer.py --config gpt2-tiny|char|gpt2-small|FILE.json --data DIR [--steps N | --time S]
                         [--threads 2] [--batch B] [--context T] [--bf16] [--synthetic]

Reads Cornerstone's token shards (64-byte header + uint16/uint32 tokens) with numpy. Prints one
JSON line per step ({"step", "loss", "ms"}) and a final summary ({"tokens_per_s", "ms_per_step",
"peak_rss_mb", "val_loss", ...}). --synthetic trains on random tokens (speed benchmarks without data).
"""
import argparse
import json
import statistics
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
from models import GPT2, Llama, write_safetensors  # noqa: E402

PRESETS = {  # mirrors src/models/decoder_config.cpp and src/train/pretrain_config.cpp
    "gpt2-tiny": ({"arch": "gpt2", "vocab_size": 50257, "context": 256, "n_layers": 6, "d_model": 384, "n_heads": 6,
                   "d_ff": 1536}, {"batch_size": 8}),
    "char": ({"arch": "gpt2", "vocab_size": 256, "context": 256, "n_layers": 6, "d_model": 384, "n_heads": 6,
              "d_ff": 1536}, {"batch_size": 16}),
    "gpt2-small": ({"arch": "gpt2", "vocab_size": 50257, "context": 1024, "n_layers": 12, "d_model": 768,
                    "n_heads": 12, "d_ff": 3072}, {"batch_size": 4}),
    "llama-tiny": ({"arch": "llama", "vocab_size": 32000, "context": 256, "n_layers": 6, "d_model": 384, "n_heads": 6,
                    "n_kv_heads": 2, "d_ff": 1024, "norm_eps": 1e-5, "tie_embeddings": False}, {"batch_size": 8}),
    "llama-small": ({"arch": "llama", "vocab_size": 32000, "context": 1024, "n_layers": 12, "d_model": 768, "n_heads": 12,
                     "n_kv_heads": 4, "d_ff": 2048, "norm_eps": 1e-5, "tie_embeddings": False}, {"batch_size": 4}),
}
PRESETS["tiny"] = PRESETS["gpt2-tiny"]
TRAIN_DEFAULTS = {"batch_size": 8, "context": 0, "steps": 1000, "lr": 6e-4, "min_lr": 6e-5, "warmup_steps": 100,
                  "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.95, "eps": 1e-8, "grad_clip": 1.0,
                  "eval_every": 100, "eval_batches": 10, "seed": 1337}


def load_config(name):
    if name in PRESETS:
        m, t = PRESETS[name]
        return dict(m), dict(TRAIN_DEFAULTS, **t)
    with open(name) as f:
        j = json.load(f)
    m = j["model"] if isinstance(j["model"], dict) else dict(PRESETS[j["model"]][0])
    return m, dict(TRAIN_DEFAULTS, **j.get("training", {}))


def hf_config(m):
    if m["arch"] == "gpt2":
        return {"model_type": "gpt2", "vocab_size": m["vocab_size"], "n_positions": m["context"], "n_embd": m["d_model"],
                "n_layer": m["n_layers"], "n_head": m["n_heads"], "n_inner": m["d_ff"],
                "layer_norm_epsilon": m.get("norm_eps", 1e-5), "tie_word_embeddings": True}
    return {"model_type": "llama", "vocab_size": m["vocab_size"], "max_position_embeddings": m["context"],
            "hidden_size": m["d_model"], "intermediate_size": m["d_ff"], "num_hidden_layers": m["n_layers"],
            "num_attention_heads": m["n_heads"], "num_key_value_heads": m.get("n_kv_heads", m["n_heads"]),
            "rms_norm_eps": m.get("norm_eps", 1e-5), "rope_theta": m.get("rope_theta", 10000.0),
            "tie_word_embeddings": m.get("tie_embeddings", False)}


def init_gpt2(model, n_layers, std=0.02):
    """GPT-2 initialisation, as Cornerstone's: N(0, 0.02) weights, residual projections scaled by
    1/sqrt(2 n_layers), zero biases, unit norm gains."""
    for name, p in model.named_parameters():
        if p.dim() == 1:
            torch.nn.init.ones_(p) if "ln" in name or "norm" in name else torch.nn.init.zeros_(p)
        elif name.endswith("c_proj.weight") or name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
            torch.nn.init.normal_(p, 0.0, std / math.sqrt(2 * n_layers))
        else:
            torch.nn.init.normal_(p, 0.0, std)


class Tokens:
    """One split of a prepared data folder as a single token array."""

    def __init__(self, folder, split):
        parts = []
        for name in sorted(os.listdir(folder)):
            if name.startswith(split + "-") and name.endswith(".bin"):
                path = os.path.join(folder, name)
                width = int(np.fromfile(path, dtype=np.uint32, count=4)[3])
                parts.append(np.memmap(path, dtype=np.uint16 if width == 2 else np.uint32, mode="r", offset=64))
        if not parts:
            raise SystemExit(f"{folder}: no {split}-*.bin shards")
        self.tokens = np.concatenate(parts).astype(np.int64)

    def __len__(self):
        return len(self.tokens)


def batch_at(tokens, starts, T):
    x = np.stack([tokens[s:s + T + 1] for s in starts])
    return torch.from_numpy(x[:, :-1]), torch.from_numpy(x[:, 1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--data")
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--time", type=float, help="seconds")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--context", type=int)
    ap.add_argument("--bf16", action="store_true", help="torch.autocast(cpu, bfloat16)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--save", help="write the trained model here (config.json + model.safetensors, HF names)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    m, t = load_config(args.config)
    if args.batch:
        t["batch_size"] = args.batch
    T = args.context or t["context"] or m["context"]
    B = t["batch_size"]
    torch.manual_seed(t["seed"])
    rng = np.random.default_rng(t["seed"])
    model = (GPT2 if m["arch"] == "gpt2" else Llama)(hf_config(m))
    init_gpt2(model, m["n_layers"])
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=t["lr"], betas=(t["beta1"], t["beta2"]), eps=t["eps"])
    if args.synthetic:
        train = val = None
    else:
        train, val = Tokens(args.data, "train"), Tokens(args.data, "val")
    total = args.steps or t["steps"]

    def lr_at(step, total):
        if step < t["warmup_steps"]:
            return t["lr"] * (step + 1) / t["warmup_steps"]
        if step >= total:
            return t["min_lr"]
        prog = (step - t["warmup_steps"]) / max(1, total - t["warmup_steps"])
        return t["min_lr"] + (t["lr"] - t["min_lr"]) * 0.5 * (1 + math.cos(math.pi * prog))

    def evaluate():
        if val is None or len(val) <= T:
            return float("nan")
        model.eval()
        span, n, total_loss = len(val) - T, t["eval_batches"] * B, 0.0
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            for i in range(t["eval_batches"]):
                x, y = batch_at(val.tokens, [(i * B + r) * span // n for r in range(B)], T)
                total_loss += F.cross_entropy(model(x).float().reshape(-1, m["vocab_size"]), y.reshape(-1)).item()
        model.train()
        return total_loss / t["eval_batches"]

    val_loss = evaluate() if not args.synthetic else float("nan")
    step, t0, times, sized = 0, time.perf_counter(), [], False
    while step < total:
        ts = time.perf_counter()
        lr = lr_at(step, total)
        for g in opt.param_groups:
            g["lr"] = lr
        if args.synthetic:
            x = torch.randint(0, m["vocab_size"], (B, T))
            y = torch.randint(0, m["vocab_size"], (B, T))
        else:
            x, y = batch_at(train.tokens, rng.integers(0, len(train) - T, size=B), T)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            logits = model(x)
        loss = F.cross_entropy(logits.float().reshape(-1, m["vocab_size"]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
        opt.step()
        step += 1
        now = time.perf_counter()
        times.append(now - ts)
        line = {"step": step, "loss": loss.item(), "ms": 1e3 * (now - ts)}
        if args.time and not sized and step == 10:  # size the schedule to the time budget, as Cornerstone does
            per = sum(times[3:]) / len(times[3:])
            total = step + max(1, int((args.time - (now - t0)) / per))
            sized = True
        if args.time and now - t0 >= args.time:
            total = step
        if not args.synthetic and ((t["eval_every"] and step % t["eval_every"] == 0) or step == total):
            val_loss = evaluate()
            line["val_loss"] = val_loss
        if not args.quiet:
            print(json.dumps(line), flush=True)
    if args.save:
        os.makedirs(args.save, exist_ok=True)
        cfg = dict(hf_config(m), architectures=["GPT2LMHeadModel" if m["arch"] == "gpt2" else "LlamaForCausalLM"])
        with open(os.path.join(args.save, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        state = {k: v for k, v in model.state_dict().items() if not k.startswith("lm_head") or not model.tied}
        write_safetensors(os.path.join(args.save, "model.safetensors"), state)
    # The same statistic bench/train.py takes of Cornerstone's metrics: the median over steps 4..N.
    steady = times[3:] if len(times) > 5 else times
    ms = 1e3 * statistics.median(steady)
    print(json.dumps({"summary": True, "steps": step, "tokens_per_s": B * T / (ms / 1e3), "ms_per_step": ms,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "val_loss": val_loss,
                      "train_loss": loss.item(), "threads": args.threads, "bf16": args.bf16,
                      "params": sum(p.numel() for p in model.parameters())}), flush=True)


if __name__ == "__main__":
    main()
