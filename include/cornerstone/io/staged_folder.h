// A folder that appears complete or not at all: files are written into a hidden staging folder
// beside the destination, which is renamed into place by commit(). Destroyed without commit()
// (an exception on the way), the staging folder and everything in it is removed, so a failed
// import or export never leaves a half-written model under the real name.
//
//   StagedFolder out("runs/imported");           // refuses when runs/imported has files
//   save_gpt(model, out.path());
//   tokenizer.save(out.path() + "/tokenizer.json");
//   out.commit();                                  // runs/imported now exists, complete
#pragma once

#include <string>

namespace cornerstone::io {

class StagedFolder {
 public:
  // Throws IOError when `dest` exists and is not an empty folder (it is never modified), or when
  // the staging folder cannot be created.
  explicit StagedFolder(std::string dest);
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
  bool committed_ = false;
};

}  // namespace cornerstone::io
