// A folder that appears complete or not at all: files are written into a hidden staging folder
// beside the destination, which is renamed into place by commit(). Destroyed without commit()
// (an exception on the way), the staging folder and everything in it is removed, so a failed
// import or export never leaves a half-written model under the real name.
//
//   StagedFolder out("runs/imported");           // refuses when runs/imported has files
//   save_gpt(model, out.path());
//   tokenizer.save(out.path() + "/tokenizer.json");
//   out.commit();                                  // runs/imported now exists, complete
//
// Killed before commit() (kill -9), the process leaves runs/.imported.partial-<pid>-<n>/; the
// next StagedFolder for the same destination removes it (io/temporaries.h).
//
// A command that rewrites its output (prepare, quantize) replaces the destination instead:
//
//   StagedFolder out("data", StagedFolder::Existing::Replace, is_prepare_output);
//   ... write train-00000.bin, meta.json into out.path() ...
//   out.commit();   // data/ is swapped for the new folder in one rename(2) (RENAME_EXCHANGE)
//
// Until commit() readers see the old folder, whole; after it the new one. Files of the old folder
// that the command does not write (`owned` says no) are carried over as hard links.
#pragma once

#include <functional>
#include <string>

namespace cornerstone::io {

class StagedFolder {
 public:
  enum class Existing {
    Refuse,   // throw IOError when the destination has files
    Replace,  // swap an existing destination folder for the new one on commit()
  };
  // Names (of entries directly in the destination) that the writing command produces.
  using Owned = std::function<bool(const std::string& name)>;

  // Throws IOError when `dest` exists and is not a folder, when it has files and `existing` is
  // Refuse (it is never modified), or when the staging folder cannot be created.
  explicit StagedFolder(std::string dest, Existing existing = Existing::Refuse, Owned owned = {});
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;

  // Where to write the files (the staging folder until commit()).
  const std::string& path() const { return staging_; }
  const std::string& destination() const { return dest_; }
  // Renames the staging folder onto the destination and makes the rename durable.
  void commit();

 private:
  std::string dest_, staging_;
  Existing existing_;
  Owned owned_;
  bool committed_ = false;
};

// Puts the complete folder `staged` at `dest` in one step: a rename when `dest` does not exist, an
// atomic exchange (renameat2 RENAME_EXCHANGE) when it does, after which the old folder, now at
// `staged`, is removed. Where the file system cannot exchange, the old folder is renamed aside
// first (a crash in between leaves `dest` absent, never half-written). The renames are fsync'ed.
void replace_folder(const std::string& staged, const std::string& dest);

}  // namespace cornerstone::io
