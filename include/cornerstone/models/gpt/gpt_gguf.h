// GPT <-> GGUF, the layout llama.cpp runs (architectures "gpt2" and "llama").
//
//   gpt2:  token_embd, position_embd, blk.N.{attn_norm, attn_qkv, attn_output, ffn_norm, ffn_up,
//          ffn_down}.{weight,bias}, output_norm.{weight,bias}, output.weight (untied only)
//   llama: token_embd, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate,
//          ffn_up, ffn_down}.weight, output_norm.weight, output.weight (untied only)
//
// Weights keep the Linear (out, in) orientation, so GPT-2's fused qkv needs no transpose (GGUF
// dims [in, out]). llama.cpp's "llama" RoPE rotates adjacent pairs (x0, x1), (x2, x3), ... while
// Cornerstone and Hugging Face rotate halves (x_i, x_{i + D/2}); export therefore interleaves the
// rows of each head of attn_q / attn_k (row h*D + 2i + s <- row h*D + s*D/2 + i, s in {0, 1}) and
// import undoes it. A tied head is written as token_embd alone; llama.cpp uses it for the output.
//
// Weight matrices take the export type; 1-D tensors (norms, biases) and GPT-2's position table stay
// f32 as llama.cpp keeps them; a matrix whose rows are not whole q8_0 / q4_0 blocks falls back to f16.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cornerstone/core/dtype.h"
#include "cornerstone/io/gguf.h"
#include "cornerstone/models/gpt/gpt.h"

namespace cornerstone::models {

// llama.cpp's general.file_type for an export type (ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q4_0 = 2,
// MOSTLY_Q8_0 = 7, MOSTLY_BF16 = 32).
uint32_t gguf_file_type(DType type);

// Adds general.* and <arch>.* hyper-parameters and every tensor of the model in `type` (f32, f16,
// bf16, q8_0, q4_0) to `w`. Returns notes for the user (tensors that fell back to another type).
std::vector<std::string> add_gpt_to_gguf(const GPT& model, DType type, const std::string& name, io::GGUFWriter& w);

// The DecoderConfig a GGUF file describes. Throws UnsupportedError naming the key for
// architectures or features Cornerstone does not run (an unknown general.architecture, RoPE
// scaling, partial rotary, experts), FormatError for missing or mistyped keys.
DecoderConfig config_from_gguf(const io::GGUFFile& f);

// Builds the model and loads every tensor (dequantized to f32, Q/K rows un-interleaved). Throws
// FormatError naming a missing tensor, a shape that differs from the config, or a tensor the
// layout does not use; UnsupportedError naming a tensor of a type Cornerstone cannot read.
std::unique_ptr<GPT> gpt_from_gguf(const io::GGUFFile& f);

// The head-row permutation between the Hugging Face (rotate-half) and llama.cpp (adjacent
// pairs) RoPE layouts, for a (n_heads * D, in) weight. to_gguf = false applies the inverse.
Tensor permute_rope_rows(const Tensor& w, int64_t n_heads, bool to_gguf);

}  // namespace cornerstone::models
