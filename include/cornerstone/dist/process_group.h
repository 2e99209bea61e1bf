// dist: the processes one job runs on. Under `mpirun -np N cornerstone ...` every process is a
// rank of MPI_COMM_WORLD (OpenMPI); started any other way, the job is one process and every
// collective is a no-op. Nothing else in the engine talks to MPI.
//
//   dist::ProcessGroup& g = dist::ProcessGroup::world();   // MPI initialised here, once
//   g.all_reduce_sum(grad.data<float>(), grad.numel());     // every rank gets the sum
//   if (g.rank() == 0) write_checkpoint();                  // one writer
//
// MPI errors (a rank that died, a broken link) are returned, not fatal inside MPI: the collective
// throws dist::Error naming the operation, this rank and the world size, and the CLI then ends the
// job with abort_job() so that no rank waits forever on one that is gone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cornerstone/core/error.h"

namespace cornerstone::dist {

// A collective started without waiting for it (MPI_I*): its buffers belong to MPI until test()
// returns true or wait() returns. MPI moves the data forward inside MPI calls, so a caller doing
// other work calls test() now and then. A request dropped while still active is abandoned (MPI
// offers no cancel for collectives): only an error path, which then ends the job, does that.
class Request {
 public:
  Request();
  ~Request();
  Request(Request&&) noexcept;
  Request& operator=(Request&&) noexcept;
  bool active() const;
  bool test();  // true once complete (and from then on)
  void wait();

 private:
  friend class ProcessGroup;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class ProcessGroup {
 public:
  // The job's processes: MPI_COMM_WORLD when launched by an MPI launcher, else a group of one.
  static ProcessGroup& world();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool distributed() const { return size_ > 1; }
  // Ranks of this job on this machine (they share its cores).
  int local_size() const { return local_size_; }

  // In place, on every rank: x becomes the element-wise sum over the ranks.
  void all_reduce_sum(float* x, size_t n);
  void all_reduce_sum(double* x, size_t n);
  // In place, on every rank: `x` holds every rank's segment end to end (rank r's `counts[r]`
  // elements after those of ranks 0..r-1); each rank fills its own segment, and afterwards every
  // rank has all of them. The total must stay below 2^31 elements.
  void all_gather(float* x, const std::vector<int64_t>& counts);
  // Gathered on rank `root` only: every rank passes its own segment (counts[rank] elements), and
  // root's `x` receives every rank's end to end, in rank order (x may be null elsewhere; `segment`
  // must not overlap x).
  void gather(const float* segment, float* x, const std::vector<int64_t>& counts, int root = 0);
  // Started, in place: x[0, n) becomes the element-wise sum over the ranks (n < 2^31).
  Request start_all_reduce_sum(float* x, size_t n);
  // Started: `in` holds every rank's segment end to end (counts[r] elements for rank r, in rank
  // order); `out` (counts[rank()] elements) receives the sum over the ranks of this rank's segment.
  Request start_reduce_scatter_sum(const float* in, float* out, const std::vector<int64_t>& counts);
  // Collectives, blocking or started, must be entered in the same order on every rank.

  // True on every rank when `local` is true on any rank.
  bool any(bool local);
  // Rank `root`'s value, on every rank.
  int64_t broadcast(int64_t value, int root = 0);
  void barrier();

  // The ranks of this group that pass the same `color`, ranked by `key` (MPI_Comm_split): a group
  // of their own, whose collectives involve them only (tensor parallelism's groups of K
  // consecutive ranks, and the data-parallel groups across them). Collective over this group.
  std::unique_ptr<ProcessGroup> split(int color, int key);

  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;
  ~ProcessGroup();

  struct Comm;  // the MPI communicator (opaque here: nothing else includes mpi.h)

 private:
  ProcessGroup();
  struct Split {};
  explicit ProcessGroup(Split) {}
  int rank_ = 0, size_ = 1, local_size_ = 1;
  bool mpi_ = false;
  std::shared_ptr<Comm> comm_;  // null: MPI_COMM_WORLD
};

// True when this process was started by an MPI launcher (mpirun / srun with PMIx).
bool launched_by_mpi();

// The default worker threads for a process of this job: the machine's cores shared by the job's
// ranks on it (at least 1).
int default_threads();

// Ends the whole job with `code` (MPI_Abort when distributed): used after an error on one rank, so
// that the others do not wait in a collective for it. Returns only for a one-process job.
void abort_job(int code);

}  // namespace cornerstone::dist
