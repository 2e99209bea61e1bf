"""PyTorch reference implementations of the models Cornerstone trains, in Hugging Face layouts.

They load a Cornerstone checkpoint folder (config.json + model.safetensors with HF tensor names)
without the transformers library (not packaged for Debian), so the oracle tests and the benchmark
peers run the same architecture from the same weights:

    model = load_decoder("runs/x")            # GPT2LMHeadModel- or LlamaForCausalLM-equivalent
    logits = model(ids)                        # (B, T, V)

    bert = load_encoder("runs/bert")           # BertForMaskedLM-equivalent (+ the pooler)
    h = bert.hidden(ids, segments, lengths)    # (B, T, C); lengths mask right padding
    logits, pooled = bert.mlm_logits(h), bert.pooled(h)
"""
import json
import math
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- safetensors ----------------------------------------------------------------------------------

def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = data[b:end]
        if e["dtype"] == "F32":
            a = np.frombuffer(raw, dtype=np.float32)
        elif e["dtype"] == "BF16":
            a = (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        elif e["dtype"] == "F16":
            a = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
        elif e["dtype"] == "I32":
            a = np.frombuffer(raw, dtype=np.int32)
        else:
            raise ValueError(f"{path}: dtype {e['dtype']} not handled by the reference reader")
        out[name] = torch.from_numpy(a.copy()).reshape(e["shape"])
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        b = t.detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        offset += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---- GPT-2 -----------------------------------------------------------------------------------------

class Conv1D(nn.Module):
    """HF's Conv1D: weight stored (in, out)."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        return torch.addmm(self.bias, x.reshape(-1, x.shape[-1]), self.weight).reshape(*x.shape[:-1], -1)


class GPT2Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        C, self.n_head = c["n_embd"], c["n_head"]
        self.ln_1 = nn.LayerNorm(C, eps=c["layer_norm_epsilon"])
        self.attn = nn.Module()
        self.attn.c_attn = Conv1D(C, 3 * C)
        self.attn.c_proj = Conv1D(C, C)
        self.ln_2 = nn.LayerNorm(C, eps=c["layer_norm_epsilon"])
        self.mlp = nn.Module()
        self.mlp.c_fc = Conv1D(C, c.get("n_inner") or 4 * C)
        self.mlp.c_proj = Conv1D(c.get("n_inner") or 4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        H = self.n_head
        q, k, v = self.attn.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        att = att.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(-1)
        x = x + self.attn.c_proj((att @ v).transpose(1, 2).reshape(B, T, C))
        return x + self.mlp.c_proj(F.gelu(self.mlp.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT2(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.transformer = nn.Module()
        self.transformer.wte = nn.Embedding(c["vocab_size"], c["n_embd"])
        self.transformer.wpe = nn.Embedding(c["n_positions"], c["n_embd"])
        self.transformer.h = nn.ModuleList([GPT2Block(c) for _ in range(c["n_layer"])])
        self.transformer.ln_f = nn.LayerNorm(c["n_embd"], eps=c["layer_norm_epsilon"])
        self.tied = c.get("tie_word_embeddings", True)
        if not self.tied:
            self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)

    def hidden(self, ids):
        T = ids.shape[1]
        x = self.transformer.wte(ids) + self.transformer.wpe(torch.arange(T))
        for b in self.transformer.h:
            x = b(x)
        return self.transformer.ln_f(x)

    def forward(self, ids):
        h = self.hidden(ids)
        return F.linear(h, self.transformer.wte.weight if self.tied else self.lm_head.weight)


# ---- Llama -----------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


class LlamaLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        C, self.H, self.Hkv = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        self.D = C // self.H
        self.input_layernorm = RMSNorm(C, c["rms_norm_eps"])
        self.self_attn = nn.Module()
        self.self_attn.q_proj = nn.Linear(C, self.H * self.D, bias=False)
        self.self_attn.k_proj = nn.Linear(C, self.Hkv * self.D, bias=False)
        self.self_attn.v_proj = nn.Linear(C, self.Hkv * self.D, bias=False)
        self.self_attn.o_proj = nn.Linear(self.H * self.D, C, bias=False)
        self.post_attention_layernorm = RMSNorm(C, c["rms_norm_eps"])
        self.mlp = nn.Module()
        self.mlp.gate_proj = nn.Linear(C, c["intermediate_size"], bias=False)
        self.mlp.up_proj = nn.Linear(C, c["intermediate_size"], bias=False)
        self.mlp.down_proj = nn.Linear(c["intermediate_size"], C, bias=False)

    def forward(self, x, cos, sin):
        B, T, C = x.shape
        h = self.input_layernorm(x)
        q = self.self_attn.q_proj(h).view(B, T, self.H, self.D).transpose(1, 2)
        k = self.self_attn.k_proj(h).view(B, T, self.Hkv, self.D).transpose(1, 2)
        v = self.self_attn.v_proj(h).view(B, T, self.Hkv, self.D).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(self.H // self.Hkv, dim=1)
        v = v.repeat_interleave(self.H // self.Hkv, dim=1)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(self.D)
        att = att.masked_fill(~torch.ones(T, T, dtype=torch.bool).tril(), float("-inf")).softmax(-1)
        x = x + self.self_attn.o_proj((att @ v).transpose(1, 2).reshape(B, T, self.H * self.D))
        h = self.post_attention_layernorm(x)
        return x + self.mlp.down_proj(F.silu(self.mlp.gate_proj(h)) * self.mlp.up_proj(h))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.model.layers = nn.ModuleList([LlamaLayer(c) for _ in range(c["num_hidden_layers"])])
        self.model.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.tied = c.get("tie_word_embeddings", False)
        if not self.tied:
            self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        D = c["hidden_size"] // c["num_attention_heads"]
        inv_freq = 1.0 / (c.get("rope_theta", 10000.0) ** (torch.arange(0, D, 2).float() / D))
        freqs = torch.outer(torch.arange(c["max_position_embeddings"], dtype=torch.float32), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos(), emb.sin()

    def hidden(self, ids):
        T = ids.shape[1]
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, self.cos[:T], self.sin[:T])
        return self.model.norm(x)

    def forward(self, ids):
        h = self.hidden(ids)
        return F.linear(h, self.model.embed_tokens.weight if self.tied else self.lm_head.weight)


# ---- BERT ------------------------------------------------------------------------------------------

class BertLayer(nn.Module):
    """HF's BertLayer (post-norm), or its pre-norm variant when config["pre_norm"]. Dropout p on the
    attention and MLM outputs (HF's hidden_dropout_prob; no attention-probability dropout, as in
    Cornerstone)."""

    def __init__(self, c, dropout=0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        C, F, eps = c["hidden_size"], c["intermediate_size"], c["layer_norm_eps"]
        self.H, self.pre_norm = c["num_attention_heads"], c.get("pre_norm", False)
        self.attention = nn.Module()
        self.attention.self = nn.Module()
        self.attention.self.query = nn.Linear(C, C)
        self.attention.self.key = nn.Linear(C, C)
        self.attention.self.value = nn.Linear(C, C)
        self.attention.output = nn.Module()
        self.attention.output.dense = nn.Linear(C, C)
        self.attention.output.LayerNorm = nn.LayerNorm(C, eps=eps)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(C, F)
        self.output = nn.Module()
        self.output.dense = nn.Linear(F, C)
        self.output.LayerNorm = nn.LayerNorm(C, eps=eps)

    def attend(self, x, pad):
        B, T, C = x.shape
        H, s = self.H, self.attention.self
        q, k, v = (f(x).view(B, T, H, C // H).transpose(1, 2) for f in (s.query, s.key, s.value))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(C // H)
        if pad is not None:  # (B, T) True on padding keys
            att = att.masked_fill(pad[:, None, None, :], float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        return self.drop(self.attention.output.dense(y))

    def forward(self, x, pad):
        mlp = lambda h: self.drop(self.output.dense(F.gelu(self.intermediate.dense(h))))  # noqa: E731
        if self.pre_norm:
            h = x + self.attend(self.attention.output.LayerNorm(x), pad)
            return h + mlp(self.output.LayerNorm(h))
        h = self.attention.output.LayerNorm(x + self.attend(x, pad))
        return self.output.LayerNorm(h + mlp(h))


class Bert(nn.Module):
    """BertForMaskedLM with BertModel's pooler, in HF names; dropout p (0: off) after the embeddings
    and on each layer's residual branches."""

    def __init__(self, c, dropout=0.0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.config = c
        C, eps = c["hidden_size"], c["layer_norm_eps"]
        self.bert = nn.Module()
        e = self.bert.embeddings = nn.Module()
        e.word_embeddings = nn.Embedding(c["vocab_size"], C)
        e.position_embeddings = nn.Embedding(c["max_position_embeddings"], C)
        e.token_type_embeddings = nn.Embedding(c.get("type_vocab_size", 2), C)
        e.LayerNorm = nn.LayerNorm(C, eps=eps)
        self.bert.encoder = nn.Module()
        self.bert.encoder.layer = nn.ModuleList([BertLayer(c, dropout) for _ in range(c["num_hidden_layers"])])
        if c.get("pre_norm", False):
            self.bert.encoder.LayerNorm = nn.LayerNorm(C, eps=eps)
        self.bert.pooler = nn.Module()
        self.bert.pooler.dense = nn.Linear(C, C)
        self.cls = nn.Module()
        self.cls.predictions = nn.Module()
        self.cls.predictions.transform = nn.Module()
        self.cls.predictions.transform.dense = nn.Linear(C, C)
        self.cls.predictions.transform.LayerNorm = nn.LayerNorm(C, eps=eps)
        self.cls.predictions.bias = nn.Parameter(torch.zeros(c["vocab_size"]))

    def hidden(self, ids, segments=None, lengths=None):
        B, T = ids.shape
        e = self.bert.embeddings
        segments = torch.zeros_like(ids) if segments is None else segments
        x = e.word_embeddings(ids) + e.position_embeddings(torch.arange(T))[None] + e.token_type_embeddings(segments)
        x = self.drop(e.LayerNorm(x))
        pad = None if lengths is None else torch.arange(T)[None, :] >= lengths[:, None]
        for layer in self.bert.encoder.layer:
            x = layer(x, pad)
        return self.bert.encoder.LayerNorm(x) if self.config.get("pre_norm", False) else x

    def pooled(self, h):
        return torch.tanh(self.bert.pooler.dense(h[:, 0]))

    def mlm_logits(self, h):
        t = self.cls.predictions.transform
        return F.linear(t.LayerNorm(F.gelu(t.dense(h))), self.bert.embeddings.word_embeddings.weight, self.cls.predictions.bias)


def load_encoder(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    if config["model_type"] != "bert":
        raise ValueError(f"{folder}: model_type {config['model_type']} is not an encoder in the reference")
    return load_weights(Bert(config), folder)


# ---- vision: ViTForImageClassification and BitForImageClassification (transformers' module trees) ---

def _ns(**children):
    m = nn.Module()
    for k, v in children.items():
        setattr(m, k, v)
    return m


class ViTLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, F, eps = c["hidden_size"], c["intermediate_size"], c.get("layer_norm_eps", 1e-12)
        self.heads = c["num_attention_heads"]
        self.layernorm_before = nn.LayerNorm(D, eps=eps)
        self.attention = _ns(attention=_ns(query=nn.Linear(D, D), key=nn.Linear(D, D), value=nn.Linear(D, D)),
                             output=_ns(dense=nn.Linear(D, D)))
        self.layernorm_after = nn.LayerNorm(D, eps=eps)
        self.intermediate = _ns(dense=nn.Linear(D, F))
        self.output = _ns(dense=nn.Linear(F, D))

    def forward(self, x):
        B, T, D = x.shape
        H = self.heads
        h = self.layernorm_before(x)
        a = self.attention.attention
        q, k, v = (m(h).view(B, T, H, D // H).transpose(1, 2) for m in (a.query, a.key, a.value))
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(D // H)).softmax(-1)
        x = x + self.attention.output.dense((att @ v).transpose(1, 2).reshape(B, T, D))
        return x + self.output.dense(F.gelu(self.intermediate.dense(self.layernorm_after(x))))


class ViTForImageClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, p = c["hidden_size"], c["patch_size"]
        N = (c["image_size"] // p) ** 2
        emb = _ns(patch_embeddings=_ns(projection=nn.Conv2d(c.get("num_channels", 3), D, p, stride=p)))
        emb.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        emb.position_embeddings = nn.Parameter(torch.zeros(1, N + 1, D))
        self.vit = _ns(embeddings=emb, encoder=_ns(layer=nn.ModuleList([ViTLayer(c) for _ in range(c["num_hidden_layers"])])),
                       layernorm=nn.LayerNorm(D, eps=c.get("layer_norm_eps", 1e-12)))
        self.classifier = nn.Linear(D, len(c["id2label"]))

    def forward(self, pixels):
        e = self.vit.embeddings
        x = e.patch_embeddings.projection(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([e.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + e.position_embeddings
        for layer in self.vit.encoder.layer:
            x = layer(x)
        return self.classifier(self.vit.layernorm(x)[:, 0])


class WSConv(nn.Module):
    """transformers' WeightStandardizedConv2d with global_padding None (symmetric padding)."""
    def __init__(self, cin, cout, k, stride=1, eps=1e-8):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(cout, cin, k, k))
        self.stride, self.pad, self.eps = stride, ((stride - 1) + (k - 1)) // 2, eps

    def forward(self, x):
        w = F.batch_norm(self.weight.reshape(1, self.weight.shape[0], -1), None, None, training=True, momentum=0.0,
                         eps=self.eps).reshape_as(self.weight)
        return F.conv2d(x, w, None, self.stride, self.pad)


def make_div(v, divisor=8):
    n = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return n + divisor if n < 0.9 * v else n


class BitLayer(nn.Module):
    def __init__(self, c, cin, cout, stride, first):
        super().__init__()
        mid, G = make_div(cout * 0.25), c.get("num_groups", 32)
        self.downsample = _ns(conv=WSConv(cin, cout, 1, stride)) if first else None
        self.norm1, self.conv1 = nn.GroupNorm(G, cin), WSConv(cin, mid, 1)
        self.norm2, self.conv2 = nn.GroupNorm(G, mid), WSConv(mid, mid, 3, stride)
        self.norm3, self.conv3 = nn.GroupNorm(G, mid), WSConv(mid, cout, 1)

    def forward(self, x):
        pre = F.relu(self.norm1(x))
        shortcut = self.downsample.conv(pre) if self.downsample is not None else x
        h = self.conv1(pre)
        h = self.conv2(F.relu(self.norm2(h)))
        h = self.conv3(F.relu(self.norm3(h)))
        return h + shortcut


class BitForImageClassification(nn.Module):
    def __init__(self, c):
        super().__init__()
        E, G = c["embedding_size"], c.get("num_groups", 32)
        stages, cin = nn.ModuleList(), E
        for s, (depth, out) in enumerate(zip(c["depths"], c["hidden_sizes"])):
            stages.append(_ns(layers=nn.Sequential(*[BitLayer(c, cin if j == 0 else out, out, (2 if s > 0 else 1) if j == 0 else 1, j == 0)
                                                     for j in range(depth)])))
            cin = out
        self.bit = _ns(embedder=_ns(convolution=WSConv(c.get("num_channels", 3), E, 7, 2)), encoder=_ns(stages=stages),
                       norm=nn.GroupNorm(G, cin))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(cin, len(c["id2label"])))

    def forward(self, pixels):
        x = self.bit.embedder.convolution(pixels)
        x = F.max_pool2d(F.pad(x, (1, 1, 1, 1)), 3, 2)
        for stage in self.bit.encoder.stages:
            x = stage.layers(x)
        x = F.adaptive_avg_pool2d(F.relu(self.bit.norm(x)), 1)
        return self.classifier(x)


def load_image_classifier(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    models = {"vit": ViTForImageClassification, "bit": BitForImageClassification}
    if config["model_type"] not in models:
        raise ValueError(f"{folder}: model_type {config['model_type']} is not an image classifier in the reference")
    return load_weights(models[config["model_type"]](config), folder, strict=True)


# ---- CLIPModel (transformers' module tree, hidden_act "gelu") ---------------------------------------

class CLIPEncoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, F_, eps = c["hidden_size"], c["intermediate_size"], c.get("layer_norm_eps", 1e-5)
        self.heads = c["num_attention_heads"]
        self.layer_norm1 = nn.LayerNorm(D, eps=eps)
        self.self_attn = _ns(q_proj=nn.Linear(D, D), k_proj=nn.Linear(D, D), v_proj=nn.Linear(D, D), out_proj=nn.Linear(D, D))
        self.layer_norm2 = nn.LayerNorm(D, eps=eps)
        self.mlp = _ns(fc1=nn.Linear(D, F_), fc2=nn.Linear(F_, D))

    def forward(self, x, causal):
        B, T, D = x.shape
        H = self.heads
        h = self.layer_norm1(x)
        a = self.self_attn
        q, k, v = (m(h).view(B, T, H, D // H).transpose(1, 2) for m in (a.q_proj, a.k_proj, a.v_proj))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(D // H)
        if causal:
            scores = scores.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        x = x + a.out_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.layer_norm2(x))))


class CLIPModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        t, v, P = c["text_config"], c["vision_config"], c["projection_dim"]
        Dt, Dv, p = t["hidden_size"], v["hidden_size"], v["patch_size"]
        N = (v["image_size"] // p) ** 2
        self.eos = t["eos_token_id"]
        temb = _ns(token_embedding=nn.Embedding(t["vocab_size"], Dt), position_embedding=nn.Embedding(t["max_position_embeddings"], Dt))
        self.text_model = _ns(embeddings=temb, encoder=_ns(layers=nn.ModuleList([CLIPEncoderLayer(t) for _ in range(t["num_hidden_layers"])])),
                              final_layer_norm=nn.LayerNorm(Dt, eps=t.get("layer_norm_eps", 1e-5)))
        vemb = _ns(patch_embedding=nn.Conv2d(v.get("num_channels", 3), Dv, p, stride=p, bias=False),
                   position_embedding=nn.Embedding(N + 1, Dv))
        vemb.class_embedding = nn.Parameter(torch.zeros(Dv))
        eps = v.get("layer_norm_eps", 1e-5)
        self.vision_model = _ns(embeddings=vemb, pre_layrnorm=nn.LayerNorm(Dv, eps=eps),
                                encoder=_ns(layers=nn.ModuleList([CLIPEncoderLayer(v) for _ in range(v["num_hidden_layers"])])),
                                post_layernorm=nn.LayerNorm(Dv, eps=eps))
        self.visual_projection = nn.Linear(Dv, P, bias=False)
        self.text_projection = nn.Linear(Dt, P, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(c.get("logit_scale_init_value", 2.6592)))

    def image_embeds(self, pixels):
        e = self.vision_model.embeddings
        x = e.patch_embedding(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([e.class_embedding.expand(x.shape[0], 1, -1), x], dim=1) + e.position_embedding.weight
        x = self.vision_model.pre_layrnorm(x)
        for layer in self.vision_model.encoder.layers:
            x = layer(x, causal=False)
        return self.visual_projection(self.vision_model.post_layernorm(x[:, 0]))

    def text_embeds(self, ids):
        e = self.text_model.embeddings
        x = e.token_embedding(ids) + e.position_embedding.weight[: ids.shape[1]]
        for layer in self.text_model.encoder.layers:
            x = layer(x, causal=True)
        x = self.text_model.final_layer_norm(x)
        # transformers' pooling: the first end-of-text token of each row.
        eos = (ids == self.eos).int().argmax(-1)
        return self.text_projection(x[torch.arange(ids.shape[0]), eos])

    def forward(self, pixels, ids):
        """(loss, logits_per_image) as CLIPModel(return_loss=True) computes them."""
        img = F.normalize(self.image_embeds(pixels), dim=-1)
        txt = F.normalize(self.text_embeds(ids), dim=-1)
        logits = self.logit_scale.exp() * img @ txt.t()
        target = torch.arange(logits.shape[0])
        return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2, logits


def load_clip(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    if config["model_type"] != "clip":
        raise ValueError(f"{folder}: model_type {config['model_type']} is not clip")
    return load_weights(CLIPModel(config), folder, strict=True)


# ---- loading ---------------------------------------------------------------------------------------

def build_decoder(config):
    if config["model_type"] == "gpt2":
        return GPT2(config)
    if config["model_type"] == "llama":
        return Llama(config)
    raise ValueError(f"model_type {config['model_type']} not in the reference")


def read_checkpoint(folder):
    """The weights of a Hugging Face folder: model.safetensors, or the shards that
    model.safetensors.index.json lists (as transformers' from_pretrained reads them)."""
    single = os.path.join(folder, "model.safetensors")
    if os.path.exists(single):
        return read_safetensors(single)
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        weight_map = json.load(f)["weight_map"]
    state = {}
    for shard in sorted(set(weight_map.values())):
        state.update(read_safetensors(os.path.join(folder, shard)))
    return {name: state[name] for name in weight_map}


def load_weights(model, folder, strict=False):
    """Copies the folder's tensors into the model: a missing tensor or a wrong shape is an error,
    and with strict=True an unexpected tensor too (transformers would warn and leave the missing
    ones random)."""
    state = read_checkpoint(folder)
    params = dict(model.named_parameters())
    if strict:
        unexpected = sorted(set(state) - set(params))
        if unexpected:
            raise KeyError(f"{folder}: unexpected tensors {unexpected[:5]}")
    for name, p in params.items():
        if name not in state:
            raise KeyError(f"{folder}: missing {name}")
        if tuple(state[name].shape) != tuple(p.shape):
            raise ValueError(f"{folder}: {name} has shape {tuple(state[name].shape)}, expected {tuple(p.shape)}")
        with torch.no_grad():
            p.copy_(state[name])
    return model


def load_decoder(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    return load_weights(build_decoder(config), folder, strict=True)
