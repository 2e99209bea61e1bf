// An independent parser reads Cornerstone's GGUF: Hugging Face's @huggingface/gguf (pinned in
// tests/reference/gguf/, run under node) must see exactly the metadata (keys, GGUF types, values)
// and the tensor table (names, dims, ggml types, offsets, data offset) that the writer was given.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cornerstone/io/gguf.h"
#include "cornerstone/interop/gguf_tokenizer.h"
#include "cornerstone/models/gpt/gpt_gguf.h"
#include "cli.h"
#include "interop_fixtures.h"
#include "test_util.h"

using namespace cornerstone;
using namespace cornerstone::testing;
namespace fs = std::filesystem;
using models::DecoderArch;

namespace {

std::string run(const std::string& command) {
  FILE* p = ::popen(command.c_str(), "r");
  if (!p) throw std::runtime_error("cannot run " + command);
  std::string out;
  std::array<char, 65536> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  if (::pclose(p) != 0) throw std::runtime_error(command + " failed:\n" + out);
  return out;
}

// What @huggingface/gguf reads from `file`.
nlohmann::json reference_parse(const std::string& file) {
  static const std::string node_path = [] {
    std::string p = run(source_path("scripts/reference-gguf"));
    while (!p.empty() && p.back() == '\n') p.pop_back();
    return p;
  }();
  return nlohmann::json::parse(run("NODE_PATH='" + node_path + "' node " + source_path("tests/reference/gguf/dump.js") + " '" + file + "'"));
}

// Compares a value as the JS parser printed it (64-bit integers as strings) with ours.
void expect_same_value(const nlohmann::json& js, const io::GGUFValue& v, const std::string& where) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, io::GGUFArray>) {
          ASSERT_TRUE(js.is_array()) << where;
          ASSERT_EQ(js.size(), x.items.size()) << where;
          for (size_t i = 0; i < x.items.size(); ++i) expect_same_value(js[i], x.items[i], where + "[" + std::to_string(i) + "]");
        } else if constexpr (std::is_same_v<T, std::string>) {
          EXPECT_EQ(js.get<std::string>(), x) << where;
        } else if constexpr (std::is_same_v<T, bool>) {
          EXPECT_EQ(js.get<bool>(), x) << where;
        } else if constexpr (std::is_same_v<T, uint64_t> || std::is_same_v<T, int64_t>) {
          EXPECT_EQ(js.get<std::string>(), std::to_string(x)) << where;
        } else if constexpr (std::is_floating_point_v<T>) {
          EXPECT_EQ(static_cast<T>(js.get<double>()), x) << where;
        } else {
          EXPECT_EQ(js.get<int64_t>(), static_cast<int64_t>(x)) << where;
        }
      },
      v.variant());
}

}  // namespace

TEST(GGUFReferenceParser, ReadsTheMetadataAndTensorTableCornerstoneWrote) {
  const std::string dir = fresh_temp_dir("gguf_reference");
  struct Case {
    DecoderArch arch;
    DType type;
  };
  for (const Case c : {Case{DecoderArch::GPT2, DType::F32}, Case{DecoderArch::GPT2, DType::Q8_0}, Case{DecoderArch::Llama, DType::Q4_0},
                       Case{DecoderArch::Llama, DType::BF16}, Case{DecoderArch::Llama, DType::F16}}) {
    SCOPED_TRACE(models::arch_name(c.arch) + " " + std::string(dtype_name(c.type)));
    const auto& tok = tiny_tokenizer();
    const models::GPT model(tiny_config(c.arch, tok.vocab_size() + 4), 2);
    io::GGUFWriter w;
    models::add_gpt_to_gguf(model, c.type, "reference-check", w);
    interop::add_tokenizer_to_gguf(tok, model.config().vocab_size, w);
    const std::string file = dir + "/m.gguf";
    fs::remove(file);
    w.write(file);

    const auto js = reference_parse(file);
    EXPECT_EQ(js["version"], 3);
    EXPECT_EQ(js["littleEndian"], true);
    EXPECT_EQ(js["tensor_count"], std::to_string(w.tensor_infos().size()));
    EXPECT_EQ(js["kv_count"], std::to_string(w.metadata().size()));
    EXPECT_EQ(js["tensorDataOffset"], std::to_string(io::GGUFFile::open(file).data_offset()));
    EXPECT_EQ(std::stoull(js["tensorDataOffset"].get<std::string>()) % 32, 0u);

    const auto& meta = js["metadata"];
    EXPECT_EQ(meta.size(), w.metadata().size());
    for (const auto& [key, value] : w.metadata()) {
      ASSERT_TRUE(meta.contains(key)) << key;
      EXPECT_EQ(meta[key]["type"], static_cast<int>(value.type())) << key;
      if (value.type() == io::GGUFType::Array) {
        const auto& a = std::get<io::GGUFArray>(value.variant());
        EXPECT_EQ(meta[key]["subType"], static_cast<int>(a.type)) << key;
      }
      expect_same_value(meta[key]["value"], value, key);
    }

    const auto infos = w.tensor_infos();
    const auto& tensors = js["tensors"];
    ASSERT_EQ(tensors.size(), infos.size());
    for (size_t i = 0; i < infos.size(); ++i) {
      const auto& t = tensors[i];
      EXPECT_EQ(t["name"], infos[i].name);
      EXPECT_EQ(t["n_dims"], infos[i].dims.size()) << infos[i].name;
      ASSERT_EQ(t["shape"].size(), infos[i].dims.size()) << infos[i].name;
      for (size_t d = 0; d < infos[i].dims.size(); ++d) EXPECT_EQ(t["shape"][d], std::to_string(infos[i].dims[d])) << infos[i].name;
      EXPECT_EQ(t["dtype"], infos[i].type) << infos[i].name;
      EXPECT_EQ(t["offset"], std::to_string(infos[i].offset)) << infos[i].name;
    }
  }
  fs::remove_all(dir);
}
