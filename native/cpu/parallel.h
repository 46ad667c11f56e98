// The CPU kernels' parallel regions, on a thread pool of our own rather than OpenMP's.
//
// Why not OpenMP: libgomp ends the process ("Thread creation failed") when pthread_create fails,
// and it creates threads inside any region whose team is larger than the calling thread's
// current pool, which shrinks whenever a smaller team runs. So no check made before a call could
// promise that a kernel would not kill the process when other processes use up the system's
// thread limit meanwhile. Here a region takes helper threads that are idle in one process-wide
// pool and starts missing ones itself; a thread that cannot be started leaves the region with
// fewer threads (every kernel gives the same bits for any team size), never an error or a crash.
//
// A region: parallel(threads, [&](Team& team) { ... }) runs the body on up to `threads`
// threads, the caller being team.id() == 0, and returns when every one has returned. Inside:
// team.for_static (contiguous ranges by id, no barrier), team.for_dynamic (chunks handed out as
// threads free up, then a barrier) and team.barrier(). A region inside a region runs on its
// calling thread alone. Bodies must not throw (as with OpenMP).
//
// A chunked loop: parallel_chunks (and parallel_for, built on it) needs no team: the caller starts
// on the chunks at once and idle pool threads join as they wake, so a loop too short to wait for
// a sleeping thread still gains from one that is awake.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <type_traits>

namespace dendrite::cpu {

// What the threads of one region share.
struct TeamState {
  int size = 1;
  std::atomic<int> arrived{0};          // at the barrier
  std::atomic<uint32_t> generation{0};  // of the barrier
  std::atomic<int64_t> next[2] = {};    // for_dynamic's counters, used in turn
  std::atomic<int> finished{0};         // helpers done with the body
};

class Team {
 public:
  Team(TeamState* state, int id) : state_(state), id_(id) {}
  int id() const { return id_; }
  int size() const { return state_->size; }

  // Waits until every thread of the team has called it.
  void barrier();

  // f(i) for this thread's contiguous share of [begin, end) (the same share for the same
  // bounds and team size); no barrier.
  template <class F>
  void for_static(int64_t begin, int64_t end, F&& f) const {
    const int64_t n = end - begin;
    if (n <= 0) return;
    const int64_t lo = begin + n * id_ / size(), hi = begin + n * (id_ + 1) / size();
    for (int64_t i = lo; i < hi; ++i) f(i);
  }

  // f(i) for chunks of [begin, end) taken as this thread frees up (a thread slowed by another
  // process holds up nobody), then a barrier. Every thread of the team must call it.
  template <class F>
  void for_dynamic(int64_t begin, int64_t end, int64_t chunk, F&& f) {
    std::atomic<int64_t>& next = state_->next[loops_ & 1];
    // The other counter was last used by the loop before this one, which every thread has left
    // (its barrier): reset it for the loop after this one, which starts after this one's barrier.
    if (id_ == 0) state_->next[(loops_ + 1) & 1].store(0, std::memory_order_relaxed);
    ++loops_;
    chunk = std::max<int64_t>(1, chunk);
    for (;;) {
      const int64_t i0 = begin + next.fetch_add(chunk, std::memory_order_relaxed);
      if (i0 >= end) break;
      const int64_t i1 = std::min(end, i0 + chunk);
      for (int64_t i = i0; i < i1; ++i) f(i);
    }
    barrier();
  }

 private:
  TeamState* state_;
  int id_;
  uint32_t loops_ = 0;
};

// Waits as the barrier does (spinning, then yielding the core to a descheduled team mate) until
// `counter`, which another thread of the team advances with release stores, reaches `target`:
// how one thread of a team consumes, step by step, what another produces.
void wait_for(const std::atomic<int64_t>& counter, int64_t target);

using RegionBody = void (*)(void* body, Team& team);
void run_region(int threads, RegionBody call, void* body);

// Runs body(team) on up to `threads` threads (fewer when the pool's threads are busy with other
// regions or could not be started) and returns when all have returned.
template <class F>
void parallel(int threads, F&& body) {
  using Body = std::remove_reference_t<F>;
  run_region(threads, [](void* b, Team& team) { (*static_cast<Body*>(b))(team); },
             const_cast<void*>(static_cast<const void*>(&body)));
}

using ChunkBody = void (*)(void* body, int64_t begin, int64_t end, int slot);
void run_chunks(int threads, int64_t n, int64_t chunk, ChunkBody call, void* body);

// f(begin, end, slot) over [0, n) in ranges whose bounds are multiples of `chunk` (or n): the
// calling thread (slot 0) and up to threads - 1 idle pool threads (slots 1, 2, ...) each take the
// chunks of their own share (the same share for the same n, chunk and slots), then what is left
// of the others'. The caller never waits for a pool thread to wake up or arrive, only for the
// chunks others began to end: one that arrives late finds nothing left. No barrier, no team;
// f must give the same result whichever thread runs it and however [0, n) is cut at chunks.
template <class F>
void parallel_chunks(int threads, int64_t n, int64_t chunk, F&& f) {
  using Body = std::remove_reference_t<F>;
  run_chunks(threads, n, chunk, [](void* b, int64_t begin, int64_t end, int slot) { (*static_cast<Body*>(b))(begin, end, slot); },
             const_cast<void*>(static_cast<const void*>(&f)));
}

// f(i) for i in [begin, end), in `threads` contiguous chunks shared as parallel_chunks does.
template <class F>
void parallel_for(int threads, int64_t begin, int64_t end, F&& f) {
  const int64_t n = end - begin;
  if (threads <= 1 || n <= 1) {
    for (int64_t i = begin; i < end; ++i) f(i);
    return;
  }
  parallel_chunks(threads, n, (n + threads - 1) / threads, [&](int64_t lo, int64_t hi, int) {
    for (int64_t i = begin + lo; i < begin + hi; ++i) f(i);
  });
}

// While one lives on a thread, regions (parallel()) started there run on that thread alone;
// chunked loops still share their chunks with idle pool threads. For calls run on a thread that
// must not wait for another to wake up (Node's main thread).
class RegionsAlone {
 public:
  RegionsAlone();
  ~RegionsAlone();
  RegionsAlone(const RegionsAlone&) = delete;
  RegionsAlone& operator=(const RegionsAlone&) = delete;
};

// Starts pool threads until a region of `threads` threads could have all of them; "" when it
// could, else why not (the cause and the count that could be started). The threads started
// stay in the pool either way.
std::string reserve_threads(int threads);

// The system thread ids (Linux tids) of the pool's threads, at most `max` into out; how many.
int pool_system_ids(int* out, int max);

}  // namespace dendrite::cpu
