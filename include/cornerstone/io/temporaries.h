// The temporary names of the crash-safe writers (AtomicFile, StagedFolder, checkpoints, token
// shards) carry the writing process's id, e.g.
//
//   run/model.safetensors.tmp.4242          AtomicFile("run/model.safetensors") in process 4242
//   runs/.hf.partial-4242-0/                StagedFolder("runs/hf") in process 4242
//   run/checkpoints/.step-00000040.tmp.4242 a checkpoint being written
//
// A writer killed (kill -9, power loss) before it commits leaves its temporary behind. Readers
// never look at these names; the next writer of the same destination removes the ones whose
// process is gone (remove_stale_temporaries), so a crash costs disk space only until the rerun.
#pragma once

#include <string>

namespace cornerstone::io {

// True when a process with this id exists (it may belong to another user).
bool process_alive(long pid);

// True when `name` contains `marker` followed by the id of a process that no longer exists:
// is_stale_temporary("model.safetensors.tmp.4242", ".tmp.") once process 4242 is gone.
bool is_stale_temporary(const std::string& name, const std::string& marker);

// Removes (recursively) the entries of `folder` whose name starts with `prefix`, contains `marker`
// followed by a process id, and whose process no longer exists:
//   remove_stale_temporaries("run", "model.safetensors.tmp.", ".tmp.")
// Entries of live processes (another writer at work) are left alone. Errors are ignored: this is
// housekeeping, never a reason to fail the write that follows.
void remove_stale_temporaries(const std::string& folder, const std::string& prefix, const std::string& marker);

}  // namespace cornerstone::io
