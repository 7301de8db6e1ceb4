// GrowableBuffer: a byte array for dense row storage that grows without
// copying and whose untouched tail costs no resident memory.
//
// Memory model: capacities at or above kMapThreshold live in anonymous
// private mappings. The kernel commits a page only when it is first written,
// so reserving capacity ahead of use (geometric growth) costs address space,
// not RAM: resident memory tracks the bytes actually used, rounded up to a
// page. On Linux growth uses mremap(MREMAP_MAYMOVE), which moves page-table
// entries instead of copying bytes, so a 1 GiB shard grows in microseconds.
// Small capacities use malloc/realloc so that tiny tables (optimizer slots of
// rare features, test tables) do not pay a page per shard.
//
// Mapped memory goes back to the operating system as soon as it is freed
// (munmap), unlike small heap blocks that the allocator keeps; this is why
// the threshold is low: outgrown index arrays and key arrays of a growing
// table do not linger as free heap.
//
// release_tail() hands pages beyond the used prefix back to the kernel after
// large removals, so a table that shrinks also shrinks its footprint.
//
// Concurrency: none; the owning shard's lock guards every call.
#ifndef TFRA_CC_CORE_GROWABLE_BUFFER_H_
#define TFRA_CC_CORE_GROWABLE_BUFFER_H_

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

// ThreadSanitizer intercepts mmap and munmap but not mremap: pages moved by
// mremap keep the shadow state of whatever was mapped at their new address
// before, which TSan then reports as races between two shards' locks. TSan
// builds therefore grow by mmap + copy + munmap, which it models.
#if defined(__SANITIZE_THREAD__)
#define TFRA_CORE_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TFRA_CORE_UNDER_TSAN 1
#endif
#endif
#ifndef TFRA_CORE_UNDER_TSAN
#define TFRA_CORE_UNDER_TSAN 0
#endif

namespace tfra {
namespace core {

class GrowableBuffer {
 public:
  static constexpr size_t kMapThreshold = size_t{16} << 10;  // 16 KiB

  GrowableBuffer() = default;
  GrowableBuffer(const GrowableBuffer&) = delete;
  GrowableBuffer& operator=(const GrowableBuffer&) = delete;
  ~GrowableBuffer() { reset(); }

  char* data() { return data_; }
  const char* data() const { return data_; }
  size_t capacity() const { return capacity_; }

  // Ensures capacity() >= bytes, growing by at least 1.5x so that appends are
  // amortized O(1). Existing bytes are preserved. Returns false (buffer
  // unchanged) when memory cannot be obtained.
  bool reserve(size_t bytes) {
    if (bytes <= capacity_) return true;
    size_t want = capacity_ + capacity_ / 2;
    if (want < bytes) want = bytes;
    if (want < 64) want = 64;
    return resize_capacity(want);
  }

  // Replaces the content with exactly `bytes` of fresh (unspecified)
  // capacity. Returns false (buffer unchanged) when memory is unavailable.
  bool allocate_exact(size_t bytes) {
    GrowableBuffer fresh;
    if (!fresh.resize_capacity(bytes < 64 ? 64 : bytes)) return false;
    swap(fresh);
    return true;
  }

  void swap(GrowableBuffer& other) {
    std::swap(data_, other.data_);
    std::swap(capacity_, other.capacity_);
    std::swap(mapped_, other.mapped_);
  }

  // Returns pages wholly beyond `used` bytes to the operating system. Capacity
  // (address space) is kept; only resident memory drops.
  void release_tail(size_t used) {
    if (!mapped_) return;
    const size_t page = page_size();
    const size_t start = (used + page - 1) / page * page;
    if (start < capacity_) {
      madvise(data_ + start, capacity_ - start, MADV_DONTNEED);
    }
  }

  void reset() {
    if (data_ == nullptr) return;
    if (mapped_) {
      munmap(data_, capacity_);
    } else {
      std::free(data_);
    }
    data_ = nullptr;
    capacity_ = 0;
    mapped_ = false;
  }

 private:
  static size_t page_size() {
    static const size_t kPage = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return kPage;
  }

  bool resize_capacity(size_t want) {
    if (want < kMapThreshold) {
      void* p = std::realloc(data_, want);
      if (p == nullptr) return false;
      data_ = static_cast<char*>(p);
      capacity_ = want;
      return true;
    }
    const size_t page = page_size();
    want = (want + page - 1) / page * page;
    if (mapped_) {
#if defined(__linux__) && !TFRA_CORE_UNDER_TSAN
      void* p = mremap(data_, capacity_, want, MREMAP_MAYMOVE);
      if (p == MAP_FAILED) return false;
      data_ = static_cast<char*>(p);
      capacity_ = want;
      return true;
#endif
    }
    void* p = mmap(nullptr, want, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    if (data_ != nullptr) {
      std::memcpy(p, data_, capacity_);
      if (mapped_) {
        munmap(data_, capacity_);
      } else {
        std::free(data_);
      }
    }
    data_ = static_cast<char*>(p);
    capacity_ = want;
    mapped_ = true;
    return true;
  }

  char* data_ = nullptr;
  size_t capacity_ = 0;
  bool mapped_ = false;
};

}  // namespace core
}  // namespace tfra

#endif  // TFRA_CC_CORE_GROWABLE_BUFFER_H_
