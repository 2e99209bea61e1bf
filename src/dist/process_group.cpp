#include "cornerstone/dist/process_group.h"

// The C API only: OpenMPI's deprecated C++ bindings would need their own library.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <thread>

namespace cornerstone::dist {

namespace {

[[noreturn]] void fail(const char* op, int code, int rank, int size) {
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  MPI_Error_string(code, text, &len);
  throw Error(std::string(op) + " failed on rank " + std::to_string(rank) + " of " + std::to_string(size) + ": " + text +
              " (another rank may have died; its log says why)");
}

// MPI counts are ints: long buffers go in pieces.
template <typename T>
void all_reduce_pieces(T* x, size_t n, MPI_Datatype type, MPI_Comm comm, int rank, int size) {
  constexpr size_t kPiece = size_t{1} << 30;
  for (size_t off = 0; off < n; off += kPiece) {
    const int count = static_cast<int>(std::min(kPiece, n - off));
    if (const int rc = MPI_Allreduce(MPI_IN_PLACE, x + off, count, type, MPI_SUM, comm); rc != MPI_SUCCESS)
      fail("MPI_Allreduce", rc, rank, size);
  }
}

// Every rank's segment of a buffer laid end to end, as MPI's int counts and displacements.
void segments(const char* op, const std::vector<int64_t>& counts, int size, std::vector<int>& n, std::vector<int>& at) {
  if (static_cast<int64_t>(counts.size()) != size)
    throw Error(std::string(op) + ": " + std::to_string(counts.size()) + " counts for " + std::to_string(size) + " ranks");
  n.assign(counts.size(), 0), at.assign(counts.size(), 0);
  int64_t total = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    if (counts[r] < 0 || total + counts[r] > INT_MAX) throw Error(std::string(op) + ": more than 2^31 elements in one call");
    n[r] = static_cast<int>(counts[r]), at[r] = static_cast<int>(total);
    total += counts[r];
  }
}

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  return end && *end == '\0' && x > 0 && x < INT_MAX ? static_cast<int>(x) : fallback;
}

}  // namespace

// The communicator of a group: MPI_COMM_WORLD, or one made by split() (freed with the group).
struct ProcessGroup::Comm {
  MPI_Comm comm = MPI_COMM_WORLD;
  ~Comm() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (comm != MPI_COMM_WORLD && comm != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm);
  }
};

static MPI_Comm comm_of(const std::shared_ptr<ProcessGroup::Comm>& c) { return c ? c->comm : MPI_COMM_WORLD; }

bool launched_by_mpi() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(name)) return true;
  return false;
}

int default_threads() {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int local = launched_by_mpi() ? env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1) : 1;
  return std::max(1, cores / local);
}

ProcessGroup::ProcessGroup() {
  if (!launched_by_mpi()) return;
  int provided = 0;
  // Only the thread that called MPI_Init makes MPI calls (OpenMP workers never do).
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    throw Error("MPI_Init failed: this process was started by mpirun but cannot join its job");
  mpi_ = true;
  std::atexit([] {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  });
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  local_size_ = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", 1);
}

ProcessGroup& ProcessGroup::world() {
  static ProcessGroup g;
  return g;
}

void ProcessGroup::all_reduce_sum(float* x, size_t n) {
  if (mpi_ && size_ > 1) all_reduce_pieces(x, n, MPI_FLOAT, comm_of(comm_), rank_, size_);
}

void ProcessGroup::all_reduce_sum(double* x, size_t n) {
  if (mpi_ && size_ > 1) all_reduce_pieces(x, n, MPI_DOUBLE, comm_of(comm_), rank_, size_);
}

void ProcessGroup::all_gather(float* x, const std::vector<int64_t>& counts) {
  std::vector<int> n, at;
  segments("all_gather", counts, size_, n, at);
  if (!mpi_ || size_ == 1) return;
  if (const int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, n.data(), at.data(), MPI_FLOAT, comm_of(comm_)); rc != MPI_SUCCESS)
    fail("MPI_Allgatherv", rc, rank_, size_);
}

// ---- started collectives ----

struct Request::Impl {
  MPI_Request request = MPI_REQUEST_NULL;
  const char* op = "";
  int rank = 0, size = 1;
  std::vector<int> counts;  // array arguments stay untouched until the collective completes (MPI 3.1, 5.12)
};

Request::Request() = default;
Request::~Request() = default;  // an active request is abandoned: see the header
Request::Request(Request&&) noexcept = default;
Request& Request::operator=(Request&&) noexcept = default;

bool Request::active() const { return impl_ && impl_->request != MPI_REQUEST_NULL; }

bool Request::test() {
  if (!active()) return true;
  int done = 0;
  if (const int rc = MPI_Test(&impl_->request, &done, MPI_STATUS_IGNORE); rc != MPI_SUCCESS) fail(impl_->op, rc, impl_->rank, impl_->size);
  return done != 0;  // MPI_Test sets the request to MPI_REQUEST_NULL once complete
}

void Request::wait() {
  if (!active()) return;
  if (const int rc = MPI_Wait(&impl_->request, MPI_STATUS_IGNORE); rc != MPI_SUCCESS) fail(impl_->op, rc, impl_->rank, impl_->size);
}

Request ProcessGroup::start_all_reduce_sum(float* x, size_t n) {
  Request r;
  if (!mpi_ || size_ == 1 || n == 0) return r;
  if (n > static_cast<size_t>(INT_MAX)) throw Error("start_all_reduce_sum: more than 2^31 elements in one call");
  r.impl_ = std::make_unique<Request::Impl>();
  r.impl_->op = "MPI_Iallreduce", r.impl_->rank = rank_, r.impl_->size = size_;
  if (const int rc = MPI_Iallreduce(MPI_IN_PLACE, x, static_cast<int>(n), MPI_FLOAT, MPI_SUM, comm_of(comm_), &r.impl_->request);
      rc != MPI_SUCCESS)
    fail("MPI_Iallreduce", rc, rank_, size_);
  return r;
}

Request ProcessGroup::start_reduce_scatter_sum(const float* in, float* out, const std::vector<int64_t>& counts) {
  if (static_cast<int64_t>(counts.size()) != size_)
    throw Error("reduce_scatter: " + std::to_string(counts.size()) + " counts for " + std::to_string(size_) + " ranks");
  Request r;
  if (!mpi_ || size_ == 1) {
    std::copy(in, in + counts[0], out);
    return r;
  }
  r.impl_ = std::make_unique<Request::Impl>();
  r.impl_->op = "MPI_Ireduce_scatter", r.impl_->rank = rank_, r.impl_->size = size_;
  std::vector<int>& n = r.impl_->counts;
  n.resize(counts.size());
  int64_t total = 0;
  for (size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] < 0 || (total += counts[k]) > INT_MAX) throw Error("reduce_scatter: more than 2^31 elements in one call");
    n[k] = static_cast<int>(counts[k]);
  }
  if (const int rc = MPI_Ireduce_scatter(in, out, n.data(), MPI_FLOAT, MPI_SUM, comm_of(comm_), &r.impl_->request); rc != MPI_SUCCESS)
    fail("MPI_Ireduce_scatter", rc, rank_, size_);
  return r;
}

void ProcessGroup::gather(const float* segment, float* x, const std::vector<int64_t>& counts, int root) {
  std::vector<int> n, at;
  segments("gather", counts, size_, n, at);
  if (!mpi_ || size_ == 1) {
    std::copy(segment, segment + counts[0], x);
    return;
  }
  const size_t me = static_cast<size_t>(rank_);
  if (const int rc = MPI_Gatherv(segment, n[me], MPI_FLOAT, x, n.data(), at.data(), MPI_FLOAT, root, comm_of(comm_)); rc != MPI_SUCCESS)
    fail("MPI_Gatherv", rc, rank_, size_);
}

bool ProcessGroup::any(bool local) {
  if (!mpi_ || size_ == 1) return local;
  int v = local ? 1 : 0;
  if (const int rc = MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, comm_of(comm_)); rc != MPI_SUCCESS)
    fail("MPI_Allreduce", rc, rank_, size_);
  return v != 0;
}

int64_t ProcessGroup::broadcast(int64_t value, int root) {
  if (!mpi_ || size_ == 1) return value;
  long long v = value;
  if (const int rc = MPI_Bcast(&v, 1, MPI_LONG_LONG, root, comm_of(comm_)); rc != MPI_SUCCESS) fail("MPI_Bcast", rc, rank_, size_);
  return v;
}

void ProcessGroup::barrier() {
  if (!mpi_ || size_ == 1) return;
  if (const int rc = MPI_Barrier(comm_of(comm_)); rc != MPI_SUCCESS) fail("MPI_Barrier", rc, rank_, size_);
}

std::unique_ptr<ProcessGroup> ProcessGroup::split(int color, int key) {
  std::unique_ptr<ProcessGroup> g(new ProcessGroup(Split{}));
  if (!mpi_ || size_ == 1) return g;  // a group of one: no MPI
  g->comm_ = std::make_shared<Comm>();
  if (const int rc = MPI_Comm_split(comm_of(comm_), color, key, &g->comm_->comm); rc != MPI_SUCCESS) fail("MPI_Comm_split", rc, rank_, size_);
  MPI_Comm_set_errhandler(g->comm_->comm, MPI_ERRORS_RETURN);
  g->mpi_ = true;
  MPI_Comm_rank(g->comm_->comm, &g->rank_);
  MPI_Comm_size(g->comm_->comm, &g->size_);
  g->local_size_ = std::min(local_size_, g->size_);
  return g;
}

ProcessGroup::~ProcessGroup() = default;

void abort_job(int code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  int size = 1;
  if (initialized && !finalized) MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

}  // namespace cornerstone::dist
