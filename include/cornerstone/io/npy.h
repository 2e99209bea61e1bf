// NumPy's .npy format (version 1.0) for float32 matrices: what `cornerstone embed --out` writes,
// readable with numpy.load(path) and by any reader of the format.
//
//   offset  size  field
//   0       6     magic "\x93NUMPY"
//   6       2     version 1, 0
//   8       2     header length H (little-endian uint16)
//   10      H     ASCII dict, space-padded, '\n'-terminated, 10 + H a multiple of 64:
//                 {'descr': '<f4', 'fortran_order': False, 'shape': (rows, cols), }
//   10 + H        rows x cols little-endian float32, row-major
#pragma once

#include <string>

#include "cornerstone/core/tensor.h"

namespace cornerstone::io {

// Writes a 2-D f32 tensor atomically (io/atomic_file.h).
void save_npy(const std::string& path, const Tensor& matrix);
// Reads a file written by save_npy (tests, tools). Throws FormatError naming the file.
Tensor load_npy(const std::string& path);

}  // namespace cornerstone::io
