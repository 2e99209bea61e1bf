#include "oracle.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

#include "test_util.h"

extern char** environ;

namespace cornerstone::testing {

Oracle& Oracle::instance() {
  static Oracle oracle;
  return oracle;
}

Oracle::Oracle() {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) throw std::runtime_error("oracle: pipe() failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_addclose(&fa, in[1]);
  posix_spawn_file_actions_addclose(&fa, out[0]);
  const std::string script = source_path("tests/reference/oracle.py");
  const char* argv[] = {"/usr/bin/python3", script.c_str(), nullptr};
  pid_t pid;
  if (posix_spawn(&pid, argv[0], &fa, nullptr, const_cast<char**>(argv), environ) != 0)
    throw std::runtime_error("oracle: cannot start /usr/bin/python3 (install python3-torch: scripts/setup)");
  posix_spawn_file_actions_destroy(&fa);
  close(in[0]);
  close(out[1]);
  pid_ = pid;
  to_ = fdopen(in[1], "wb");
  from_ = fdopen(out[0], "rb");
}

Oracle::~Oracle() {
  if (to_) fclose(to_);
  if (from_) fclose(from_);
  if (pid_ > 0) waitpid(pid_, nullptr, 0);
}

namespace {

void write_tensor(FILE* f, const Tensor& t) {
  const Tensor c = t.contiguous();
  if (fwrite(c.raw_data(), 1, c.nbytes(), f) != c.nbytes()) throw std::runtime_error("oracle: write failed");
}

Tensor read_tensor(FILE* f, const nlohmann::json& shape) {
  Shape s;
  for (const auto& d : shape) s.push_back(d.get<int64_t>());
  Tensor t = Tensor::empty(s);
  if (fread(t.raw_data(), 1, t.nbytes(), f) != t.nbytes())
    throw std::runtime_error("oracle: the PyTorch process died (see its stderr above)");
  return t;
}

nlohmann::json shape_json(const Shape& s) {
  nlohmann::json j = nlohmann::json::array();
  for (int64_t d : s) j.push_back(d);
  return j;
}

}  // namespace

OracleResult Oracle::run(const std::string& op, const std::vector<Tensor>& inputs, const nlohmann::json& attrs,
                         const Tensor& seed, const std::vector<bool>& want_grad) {
  nlohmann::json req;
  req["op"] = op;
  req["attrs"] = attrs.is_null() ? nlohmann::json::object() : attrs;
  req["inputs"] = nlohmann::json::array();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    if (t.dtype() != DType::F32 && t.dtype() != DType::I32) throw std::runtime_error("oracle: only f32 / i32 inputs");
    req["inputs"].push_back({{"shape", shape_json(t.shape())},
                             {"dtype", t.dtype() == DType::F32 ? "f32" : "i32"},
                             {"grad", seed.defined() && i < want_grad.size() && want_grad[i]}});
  }
  req["seed_shape"] = seed.defined() ? shape_json(seed.shape()) : nlohmann::json();
  const std::string line = req.dump() + "\n";
  fwrite(line.data(), 1, line.size(), to_);
  for (const Tensor& t : inputs) write_tensor(to_, t);
  if (seed.defined()) write_tensor(to_, seed);
  fflush(to_);

  std::string reply;
  for (int c; (c = fgetc(from_)) != EOF && c != '\n';) reply.push_back(static_cast<char>(c));
  if (reply.empty()) throw std::runtime_error("oracle: no reply from the PyTorch process (see its stderr)");
  const auto hdr = nlohmann::json::parse(reply);
  if (!hdr.at("ok").get<bool>()) throw std::runtime_error("oracle: " + op + ": " + hdr.at("error").get<std::string>());
  OracleResult r;
  for (const auto& s : hdr.at("outputs")) r.outputs.push_back(read_tensor(from_, s));
  for (const auto& s : hdr.at("grads")) r.grads.push_back(s.is_null() ? Tensor() : read_tensor(from_, s));
  return r;
}

}  // namespace cornerstone::testing
