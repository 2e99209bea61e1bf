#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<harness>/ (small, valid-or-nearly-valid inputs that reach
deep into each parser). Run once; the outputs are committed. Deterministic: re-running rewrites
the same bytes."""
import json
import os
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(harness, name, data):
    d = os.path.join(ROOT, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    header, blobs, off = {}, b"", 0
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        blobs += raw
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blobs


put("safetensors", "two_tensors", safetensors({"w": ("F32", [2, 3], struct.pack("<6f", *range(6))),
                                               "b": ("BF16", [3], b"\x80\x3f" * 3)}, {"format": "pt"}))
put("safetensors", "empty", safetensors({}))
put("safetensors", "u8_i32", safetensors({"m": ("U8", [4], b"\x01\x02\x03\x04"), "i": ("I32", [1, 1], b"\x07\x00\x00\x00")}))
put("safetensors", "scalar_f16", safetensors({"s": ("F16", [], b"\x00\x3c")}))

put("safetensors_index", "ok", json.dumps({"metadata": {"total_size": 40},
                                           "weight_map": {"x": "a.safetensors", "y": "b.safetensors"}}))
put("safetensors_index", "one", json.dumps({"weight_map": {"y": "b.safetensors"}}))
put("safetensors_index", "bad_name", json.dumps({"weight_map": {"x": "../a.safetensors"}}))


def gguf_str(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf(kvs, tensors, align=32):
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, typ, payload in kvs:
        out += gguf_str(key) + struct.pack("<I", typ) + payload
    data, off = b"", 0
    for name, dims, typ, raw in tensors:
        out += gguf_str(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", typ, off)
        data += raw + b"\0" * ((align - len(raw) % align) % align)
        off = len(data)
    out += b"\0" * ((align - len(out) % align) % align)
    return out + data


U32, I32, F32, BOOL, STR, ARR = 4, 5, 6, 7, 8, 9
def u32(k, v): return (k, U32, struct.pack("<I", v))
def f32(k, v): return (k, F32, struct.pack("<f", v))
def s(k, v): return (k, STR, gguf_str(v))
def strs(k, vs): return (k, ARR, struct.pack("<IQ", STR, len(vs)) + b"".join(gguf_str(v) for v in vs))
def i32s(k, vs): return (k, ARR, struct.pack("<IQ", I32, len(vs)) + b"".join(struct.pack("<i", v) for v in vs))


V, C, F = 8, 4, 8
f32s = lambda n: struct.pack("<%df" % n, *([0.5] * n))
llama_tensors = [("token_embd.weight", [C, V], 0, f32s(V * C)), ("output_norm.weight", [C], 0, f32s(C))]
for i in range(1):
    b = "blk.%d." % i
    llama_tensors += [(b + "attn_norm.weight", [C], 0, f32s(C)), (b + "attn_q.weight", [C, C], 0, f32s(C * C)),
                      (b + "attn_k.weight", [C, C], 0, f32s(C * C)), (b + "attn_v.weight", [C, C], 0, f32s(C * C)),
                      (b + "attn_output.weight", [C, C], 0, f32s(C * C)), (b + "ffn_norm.weight", [C], 0, f32s(C)),
                      (b + "ffn_gate.weight", [C, F], 0, f32s(C * F)), (b + "ffn_up.weight", [C, F], 0, f32s(C * F)),
                      (b + "ffn_down.weight", [F, C], 0, f32s(C * F))]
tokens = ["<unk>", "<s>", "</s>", "a", "b", "ab", "\u2581", "\u2581a"]
put("gguf", "llama_tiny", gguf([s("general.architecture", "llama"), u32("general.alignment", 32),
                                u32("llama.context_length", 16), u32("llama.embedding_length", C),
                                u32("llama.block_count", 1), u32("llama.feed_forward_length", F),
                                u32("llama.attention.head_count", 2), u32("llama.attention.head_count_kv", 1),
                                f32("llama.attention.layer_norm_rms_epsilon", 1e-5), s("tokenizer.ggml.model", "llama"),
                                strs("tokenizer.ggml.tokens", tokens), i32s("tokenizer.ggml.token_type", [2, 3, 3, 1, 1, 1, 1, 1]),
                                (("tokenizer.ggml.scores", ARR, struct.pack("<IQ", F32, 8) + struct.pack("<8f", *range(8)))),
                                u32("tokenizer.ggml.bos_token_id", 1), u32("tokenizer.ggml.eos_token_id", 2)],
                               llama_tensors))
put("gguf", "gpt2_bpe_vocab", gguf([s("general.architecture", "gpt2"), s("tokenizer.ggml.model", "gpt2"),
                                    strs("tokenizer.ggml.tokens", ["a", "b", "ab", "\u0120", "\u0120a"]),
                                    strs("tokenizer.ggml.merges", ["a b", "\u0120 a"]), (("flag", BOOL, b"\x01"))],
                                   [("q", [32, 2], 8, b"\0" * 68)]))
put("gguf", "nested_array", gguf([("arr", ARR, struct.pack("<IQ", ARR, 1) + struct.pack("<IQ", U32, 2) + struct.pack("<II", 1, 2))], []))

tok_bpe = {"version": "1.0", "added_tokens": [{"id": 0, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                                                "rstrip": False, "normalized": False, "special": True}],
           "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
           "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
           "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
           "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "", "end_of_word_suffix": "",
                     "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                     "vocab": {"<|endoftext|>": 0, "H": 1, "e": 2, "l": 3, "o": 4, "\u0120": 5, "w": 6, "He": 7, "ll": 8, "llo": 9, "\u0120w": 10},
                     "merges": ["H e", "l l", "ll o", "\u0120 w"]}}
put("tokenizer_json", "bpe_byte_level", json.dumps(tok_bpe))
tok_wp = {"version": "1.0", "added_tokens": [{"id": 0, "content": "[PAD]", "special": True}, {"id": 2, "content": "[CLS]", "special": True},
                                              {"id": 3, "content": "[SEP]", "special": True}],
          "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True, "strip_accents": None, "lowercase": True},
          "pre_tokenizer": {"type": "BertPreTokenizer"},
          "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                                                                      {"Sequence": {"id": "A", "type_id": 0}},
                                                                      {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                             "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                                                "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
          "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
          "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 100,
                    "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "world": 5, "un": 6, "##aff": 7, "##able": 8, ",": 9, "!": 10}}}
put("tokenizer_json", "wordpiece_bert", json.dumps(tok_wp))
tok_sp = {"version": "1.0", "added_tokens": [],
          "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
          "pre_tokenizer": None,
          "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                             "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                             "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
          "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
                                                        {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
          "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                    "vocab": {"<unk>": 0, "<s>": 1, "<0x41>": 2, "\u2581": 3, "a": 4, "\u2581a": 5}, "merges": ["\u2581 a"]}}
put("tokenizer_json", "llama_sentencepiece_bpe", json.dumps(tok_sp))

put("gpt2_tokenizer", "tiny", json.dumps({"<|endoftext|>": 0, "h": 1, "i": 2, "hi": 3, "\u0120": 4, "\u0120hi": 5}) +
    "\0#version: 0.2\nh i\n\u0120 hi\n")
put("gpt2_tokenizer", "crlf", json.dumps({"a": 0, "b": 1, "ab": 2}) + "\0a b\r\n")

put("bert_vocab", "tiny", "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nworld\nun\n##aff\n##able\n,\n!\n")
put("bert_vocab", "cased_crlf", "[PAD]\r\n[UNK]\r\nHello\r\n##s\r\n")

put("hf_config", "gpt2", json.dumps({"model_type": "gpt2", "vocab_size": 300, "n_positions": 64, "n_ctx": 64, "n_embd": 64,
                                     "n_layer": 2, "n_head": 4, "n_inner": None, "activation_function": "gelu_new",
                                     "layer_norm_epsilon": 1e-5, "tie_word_embeddings": True}))
put("hf_config", "llama", json.dumps({"model_type": "llama", "vocab_size": 300, "max_position_embeddings": 64, "hidden_size": 64,
                                      "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                                      "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
                                      "tie_word_embeddings": False, "head_dim": 16, "rope_scaling": None}))
put("hf_config", "bert", json.dumps({"model_type": "bert", "vocab_size": 300, "hidden_size": 64, "num_hidden_layers": 2,
                                     "num_attention_heads": 4, "intermediate_size": 256, "max_position_embeddings": 128,
                                     "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu", "pre_norm": False}))

here = os.path.dirname(os.path.abspath(__file__))
for name in ("demo.json", "bert-mini-prenorm.json"):
    with open(os.path.join(here, "..", "configs", name), "rb") as f:
        put("cornerstone_config", name.replace(".json", ""), f.read())
put("cornerstone_config", "llama_model", json.dumps({"arch": "llama", "vocab_size": 32000, "n_layers": 2, "d_model": 64,
                                                     "n_heads": 4, "n_kv_heads": 2, "d_ff": 128, "tie_embeddings": False}))

def shard(tokens, token_bytes, vocab):
    h = b"CSTOKENS" + struct.pack("<IIQQQ", 1, token_bytes, len(tokens), 1, vocab)
    h += b"\0" * (64 - len(h))
    return h + b"".join(struct.pack("<H" if token_bytes == 2 else "<I", t) for t in tokens)
put("token_shards", "u16", shard([1, 2, 3, 50256], 2, 50257))
put("token_shards", "u32", shard([7, 151642], 4, 151643))

put("jsonl", "classification", '{"text": "win a prize", "label": "spam"}\n{"text": "see you", "label": "ham", "text_pair": "ok"}\n')
put("jsonl", "tagging", '{"tokens": ["The", "dog"], "tags": ["DET", "NOUN"]}\n')
put("jsonl", "instructions", '{"prompt": "Hi?", "response": "Hello.", "system": "Be brief."}\n{"prompt": "2+2", "response": "4"}\n')
put("jsonl", "retrieval", '{"query": "capital of France", "positive": "Paris is the capital."}\n')

put("chat", "messages", json.dumps({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                                 {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}]}))
put("chat", "array", json.dumps([{"role": "user", "content": "Hi"}]))
put("chat", "jsonl", '{"role": "user", "content": "Hi"}\n{"role": "assistant", "content": "Yo"}\n')

put("peft_config", "ok", json.dumps({"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": 2, "lora_alpha": 4.0, "lora_dropout": 0.0,
                                     "target_modules": ["c_attn", "c_proj", "c_fc"], "bias": "none", "fan_in_fan_out": True,
                                     "base_model_name_or_path": "tiny", "inference_mode": True}))
put("peft_config", "subset", json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 16, "target_modules": ["c_attn"]}))


def npy(rows, cols):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack("<%df" % (rows * cols), *range(rows * cols))
put("npy", "2x3", npy(2, 3))
put("npy", "0x4", npy(0, 4))


def idx(n, h, w):
    images = b"\0\0\x08\x03" + struct.pack(">III", n, h, w) + bytes((i * 7) % 256 for i in range(n * h * w))
    labels = b"\0\0\x08\x01" + struct.pack(">I", n) + bytes(i % 10 for i in range(n))
    return images + labels
put("idx", "3x4x5", idx(3, 4, 5))
put("idx", "empty", idx(0, 28, 28))


def image_shard(n, c, h, w, captions=False):
    header = {"channels": c, "classes": ["a", "b", "c"], "count": n, "height": h, "source": "seed", "width": w}
    if captions:
        header["captions"] = [["an image", "image %d" % i] for i in range(n)]
        header["files"] = ["%d.png" % i for i in range(n)]
    hj = json.dumps(header, separators=(",", ":")).encode()
    pixels = bytes((i * 13) % 256 for i in range(n * c * h * w))
    return b"CSIMAGE1" + struct.pack("<Q", len(hj)) + hj + pixels + struct.pack("<%di" % n, *[i % 3 for i in range(n)])
put("image_shard", "2x1x3x4", image_shard(2, 1, 3, 4))
put("image_shard", "3x3x2x2-captions", image_shard(3, 3, 2, 2, captions=True))
