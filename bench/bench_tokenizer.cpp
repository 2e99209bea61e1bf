// Tokenizer throughput: encode MB/s on 1 and 2 threads, and BPE training time.
//
//   bench_tokenizer encode TOKENIZER_PATH CORPUS_FILE... [--seconds S]
//   bench_tokenizer train CORPUS_FILE... --vocab-size N
//
// Prints one JSON object per measurement on stdout (bench/tokenizers turns them into a table).
// Each thread encodes whole documents (the way corpus preparation uses the library); the first
// pass warms the per-thread word caches and is not timed.
#include <omp.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "cornerstone/tokenize/bpe_trainer.h"
#include "cornerstone/tokenize/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;
using cornerstone::tokenize::Tokenizer;

// CPU seconds used by the whole process: throughput per CPU-second stays meaningful when other
// jobs share the machine and the threads do not get a core each.
double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int encode_bench(int argc, char** argv) {
  const std::string tok_path = argv[2];
  double seconds = 3.0;
  std::vector<std::string> docs;
  for (int i = 3; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = std::atof(argv[++i]);
    else docs.push_back(read(argv[i]));
  }
  size_t total = 0;
  for (const auto& d : docs) total += d.size();
  const auto t_load = Clock::now();
  const Tokenizer tok = Tokenizer::load(tok_path);
  const double load_s = std::chrono::duration<double>(Clock::now() - t_load).count();
  for (int threads : {1, 2}) {
    // Warm-up pass on every thread (fills the per-thread caches), then timed passes.
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (size_t i = 0; i < docs.size(); ++i) (void)tok.encode(docs[i]);
    std::atomic<int64_t> tokens{0};
    size_t bytes = 0;
    const auto t0 = Clock::now();
    const double cpu0 = process_cpu_seconds();
    double elapsed = 0;
    do {
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
      for (size_t i = 0; i < docs.size(); ++i) tokens += static_cast<int64_t>(tok.encode(docs[i]).size());
      bytes += total;
      elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    } while (elapsed < seconds);
    const double cpu = process_cpu_seconds() - cpu0;
    std::printf("{\"bench\": \"encode\", \"tokenizer\": \"%s\", \"threads\": %d, \"bytes\": %zu, \"seconds\": %.4f, "
                "\"mb_per_s\": %.2f, \"mb_per_cpu_s\": %.2f, \"cpu_seconds\": %.3f, \"tokens\": %lld, "
                "\"load_seconds\": %.3f}\n",
                tok_path.c_str(), threads, bytes, elapsed, bytes / elapsed / 1e6, bytes / cpu / 1e6, cpu,
                static_cast<long long>(tokens.load()), load_s);
    std::fflush(stdout);
  }
  return 0;
}

int train_bench(int argc, char** argv) {
  std::vector<std::string> files;
  cornerstone::tokenize::BpeTrainerOptions opt;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--vocab-size") == 0 && i + 1 < argc) opt.vocab_size = std::atoll(argv[++i]);
    else files.push_back(argv[i]);
  }
  opt.special_tokens = {"<|endoftext|>"};
  for (int threads : {1, 2}) {
    opt.threads = threads;
    cornerstone::tokenize::BpeTrainerReport report;
    const auto t0 = Clock::now();
    const Tokenizer tok = cornerstone::tokenize::train_bpe(files, opt, &report);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("{\"bench\": \"train\", \"threads\": %d, \"vocab_size\": %lld, \"bytes\": %lld, \"seconds\": %.3f, "
                "\"count_seconds\": %.3f, \"merge_seconds\": %.3f, \"distinct_words\": %lld}\n",
                threads, static_cast<long long>(tok.vocab_size()), static_cast<long long>(report.bytes), s,
                report.count_seconds, report.merge_seconds, static_cast<long long>(report.distinct_words));
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::strcmp(argv[1], "encode") == 0) return encode_bench(argc, argv);
  if (argc >= 3 && std::strcmp(argv[1], "train") == 0) return train_bench(argc, argv);
  std::fprintf(stderr,
               "usage: bench_tokenizer encode TOKENIZER CORPUS_FILE... [--seconds S]\n"
               "       bench_tokenizer train CORPUS_FILE... --vocab-size N\n");
  return 2;
}
