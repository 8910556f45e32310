// ScratchBuffer: an array of plain values allocated without being written, for scratch memory
// sized for the largest case (a whole batch, a whole context) but mostly used for far less.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>

namespace hangar {

// Unlike std::vector, neither construction nor resize() writes the elements: a large buffer is
// fresh zero pages of the OS (mmap), and only the pages a computation writes are ever faulted
// in. Loading a model therefore costs no memset and no page faults for scratch it may never
// use. Contents are indeterminate until written; resize() does not keep them.
template <typename T>
class ScratchBuffer {
  static_assert(std::is_trivially_default_constructible_v<T> && std::is_trivially_destructible_v<T>);

 public:
  ScratchBuffer() = default;
  explicit ScratchBuffer(size_t n) { resize(n); }

  // Grows to at least n elements (contents not kept); never shrinks.
  void resize(size_t n) {
    if (n <= size_) return;
    data_.reset(new T[n]);  // default-initialised: not written
    size_ = n;
  }
  size_t size() const { return size_; }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }

 private:
  std::unique_ptr<T[]> data_;
  size_t size_ = 0;
};

}  // namespace hangar
