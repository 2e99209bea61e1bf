#!/usr/bin/env node
// Prints what Hugging Face's GGUF parser (@huggingface/gguf) reads from a local GGUF file, as one
// JSON object: version, tensor data offset, every metadata key with its GGUF type (and element
// type for arrays) and value, and the tensor table. 64-bit integers are printed as strings.
//
//   NODE_PATH=$(scripts/reference-gguf) node tests/reference/gguf/dump.js model.gguf
"use strict";
const { gguf } = require("@huggingface/gguf");

async function main() {
  const file = process.argv[2];
  if (!file) throw new Error("usage: dump.js FILE.gguf");
  const r = await gguf(file, { allowLocalFile: true, typedMetadata: true });
  const metadata = {};
  for (const [key, entry] of Object.entries(r.typedMetadata)) {
    if (key === "version" || key === "tensor_count" || key === "kv_count") continue;
    metadata[key] = { type: entry.type, subType: entry.subType ?? null, value: entry.value };
  }
  const out = {
    version: r.metadata.version,
    tensor_count: r.metadata.tensor_count,
    kv_count: r.metadata.kv_count,
    littleEndian: r.littleEndian,
    tensorDataOffset: r.tensorDataOffset,
    metadata,
    tensors: r.tensorInfos.map((t) => ({ name: t.name, n_dims: t.n_dims, shape: t.shape, dtype: t.dtype, offset: t.offset })),
  };
  process.stdout.write(JSON.stringify(out, (k, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + "\n");
  process.exit(1);
});
