// Host memory for a network's large arrays (the CPU backend's tensors, the segregated engine's
// per-unit arrays and event lists).
//
// A fresh network's arrays start as untouched pages: on this project's virtual machine
// each 4 KiB page costs about 10 us at its first touch (a network's first online example touched
// about 700 of them: 7-8 ms, a tenth of a 300-example epoch). Arrays of 1 MiB and more therefore
// take whole 2 MiB pages, aligned, with transparent huge pages asked for (Linux, where the system
// grants them): one first touch per 2 MiB. Even that costs 0.1 ms here, and 4 ms where the host has
// not yet backed the guest's page, so freed huge blocks are kept for the next network of the
// process (a study or a bench builds one after another), up to 32 MiB in all. So are blocks of
// 16 KiB to 1 MiB, in a table of their own (up to 4 MiB): the allocator's heap gave the event
// rings' 40-60 KB blocks back to the system, and a fresh network touched them as new pages (about
// 20 in its second example: 0.2 ms).

#pragma once

#include <cstddef>
#include <mutex>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace dendrite::cpu {

constexpr size_t kHugePage = size_t{2} << 20;
constexpr size_t kHugeFrom = size_t{1} << 20;
// The size and alignment an array of `bytes` gets (deallocation repeats the rule).
inline size_t page_bytes(size_t bytes) { return bytes >= kHugeFrom ? (bytes + kHugePage - 1) / kHugePage * kHugePage : bytes; }
inline size_t page_align(size_t bytes) { return bytes >= kHugeFrom ? kHugePage : 64; }
constexpr size_t kKeepFrom = size_t{16} << 10;
class KeptBlocks {
 public:
  explicit KeptBlocks(size_t max_bytes) : max_bytes_(max_bytes) {}
  // A kept block of exactly `bytes` (the last kept first), or null.
  void* take(size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = count_; i-- > 0;) {
      if (blocks_[i].bytes == bytes) {
        void* p = blocks_[i].p;
        blocks_[i] = blocks_[--count_];
        kept_ -= bytes;
        return p;
      }
    }
    return nullptr;
  }
  // Whether it keeps block p (no room: the caller frees it).
  bool keep(void* p, size_t bytes) {
    std::lock_guard<std::mutex> lock(mu_);
    if (count_ == kMax || kept_ + bytes > max_bytes_) return false;
    blocks_[count_++] = {p, bytes};
    kept_ += bytes;
    return true;
  }

 private:
  static constexpr int kMax = 32;  // (a fixed table: freeing never allocates)
  struct Block {
    void* p;
    size_t bytes;
  };
  const size_t max_bytes_;
  std::mutex mu_;
  Block blocks_[kMax] = {};
  int count_ = 0;
  size_t kept_ = 0;
};
// The table that keeps blocks of `bytes` (at least kKeepFrom). Never destroyed: a network may be
// freed after the statics at exit.
inline KeptBlocks& kept_blocks(size_t bytes) {
  static KeptBlocks* huge = new KeptBlocks(size_t{32} << 20);
  static KeptBlocks* small = new KeptBlocks(size_t{4} << 20);
  return bytes >= kHugeFrom ? *huge : *small;
}
inline void* page_alloc(size_t bytes) {
  if (bytes >= kKeepFrom) {
    if (void* p = kept_blocks(bytes).take(page_bytes(bytes))) return p;
  }
  void* p = ::operator new(page_bytes(bytes), std::align_val_t{page_align(bytes)});
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (bytes >= kHugeFrom) madvise(p, page_bytes(bytes), MADV_HUGEPAGE);  // (a request: refused, 4 KiB pages)
#endif
  return p;
}
inline void page_free(void* p, size_t bytes) {
  if (bytes >= kKeepFrom && kept_blocks(bytes).keep(p, page_bytes(bytes))) return;
  ::operator delete(p, std::align_val_t{page_align(bytes)});
}

}  // namespace dendrite::cpu
