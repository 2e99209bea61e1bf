// Typed errors. Every error carries a message a user can act on: what went wrong, where (the op,
// the file, the JSON key, the line), and what to do. Callers catch by type:
//
//   try { ops::matmul(a, b); }
//   catch (const cornerstone::ShapeError& e) { ... e.what() == "matmul: inner dimensions differ: a (4, 3) vs b (5, 2)" }
#pragma once

#include <stdexcept>
#include <string>

namespace cornerstone {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Tensor shapes that do not fit an op.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// A dtype an op does not accept, or two dtypes that must agree and do not.
class DTypeError : public Error {
 public:
  using Error::Error;
};

// An argument value outside its domain (negative size, probability > 1, unknown option value).
class ValueError : public Error {
 public:
  using Error::Error;
};

// A malformed file or document: corrupt checkpoint, bad JSON field, truncated shard.
class FormatError : public Error {
 public:
  using Error::Error;
};

// The operating system refused: file not found, disk full, permission denied.
class IOError : public Error {
 public:
  using Error::Error;
};

// A feature that exists in the format or the field but is not implemented here (yet).
class UnsupportedError : public Error {
 public:
  using Error::Error;
};

}  // namespace cornerstone
