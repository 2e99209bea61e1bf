#include "kernels/scratch.h"

#include "cornerstone/core/allocator.h"

namespace cornerstone::kernels {

Scratch::Scratch(size_t bytes) : ptr_(bytes ? CachingAllocator::global().allocate(bytes) : nullptr), bytes_(bytes) {}

Scratch::~Scratch() {
  if (ptr_) CachingAllocator::global().deallocate(ptr_, bytes_);
}

}  // namespace cornerstone::kernels
