// The thread pool of the CPU kernels (native/cpu/parallel.h): every index of a loop visited once,
// whatever the team size; barriers that hold; nested regions on their caller; regions started by
// several threads at once (which claim helpers concurrently and start missing ones); chunked loops
// (parallel_chunks) cut at their chunks, also when the pool's threads are asleep and join late.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "checks.h"
#include "cpu/parallel.h"

namespace dendrite::test {
namespace {

// Each of [0, n) visited once, by static shares and by dynamic chunks, in teams of `threads`.
std::string loops_once(int threads, int64_t n, int64_t chunk) {
  std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
  std::atomic<int> max_id{0}, size{0};
  cpu::parallel(threads, [&](cpu::Team& team) {
    size.store(team.size());
    int id = max_id.load();
    while (team.id() > id && !max_id.compare_exchange_weak(id, team.id())) {
    }
    team.for_static(0, n, [&](int64_t i) { seen[i].fetch_add(1); });
    team.barrier();
    team.for_dynamic(0, n, chunk, [&](int64_t i) { seen[i].fetch_add(1); });
    team.for_dynamic(0, n, chunk + 1, [&](int64_t i) { seen[i].fetch_add(1); });
  });
  if (size.load() < 1 || size.load() > threads) return "team of " + std::to_string(size.load()) + " for " + std::to_string(threads);
  if (max_id.load() >= size.load()) return "id " + std::to_string(max_id.load()) + " in a team of " + std::to_string(size.load());
  for (int64_t i = 0; i < n; ++i) {
    if (seen[i].load() != 3) return "index " + std::to_string(i) + " visited " + std::to_string(seen[i].load()) + " times, not 3";
  }
  return "";
}

// Every thread writes its phase, waits at the barrier, then checks all threads reached it.
std::string barriers_hold(int threads, int phases) {
  std::vector<std::atomic<int>> phase(static_cast<size_t>(threads));
  std::atomic<int> wrong{0};
  cpu::parallel(threads, [&](cpu::Team& team) {
    for (int p = 1; p <= phases; ++p) {
      phase[team.id()].store(p);
      team.barrier();
      for (int i = 0; i < team.size(); ++i)
        if (phase[i].load() < p) wrong.fetch_add(1);
      team.barrier();
    }
  });
  return wrong.load() == 0 ? "" : std::to_string(wrong.load()) + " threads passed a barrier early";
}

// Each of [0, n) visited once by parallel_chunks, in ranges cut at multiples of `chunk`, from
// slots below `threads`.
std::string chunks_once(int threads, int64_t n, int64_t chunk) {
  std::vector<std::atomic<int>> seen(static_cast<size_t>(n));
  std::atomic<int> bad_cut{0}, bad_slot{0};
  cpu::parallel_chunks(threads, n, chunk, [&](int64_t begin, int64_t end, int slot) {
    if (begin % chunk != 0 || (end != n && end % chunk != 0) || begin >= end) bad_cut.fetch_add(1);
    if (slot < 0 || slot >= std::max(1, threads)) bad_slot.fetch_add(1);
    for (int64_t i = begin; i < end; ++i) seen[i].fetch_add(1);
  });
  if (bad_cut.load() != 0) return std::to_string(bad_cut.load()) + " ranges not cut at chunks";
  if (bad_slot.load() != 0) return std::to_string(bad_slot.load()) + " ranges from a slot out of range";
  for (int64_t i = 0; i < n; ++i) {
    if (seen[i].load() != 1) return "index " + std::to_string(i) + " visited " + std::to_string(seen[i].load()) + " times, not 1";
  }
  return "";
}

}  // namespace

void check_parallel(Checker& ck) {
  ck.run("cpu pool: reserve 4 threads", [] { return cpu::reserve_threads(4); });
  for (int threads : {1, 2, 3, 4, 7}) {
    for (int64_t n : {0, 1, 5, 1000, 4097}) {
      ck.run("cpu pool: loops of " + std::to_string(n) + " on " + std::to_string(threads) + " threads visit each index once",
             [=] { return loops_once(threads, n, 3); });
    }
    ck.run("cpu pool: 200 barriers on " + std::to_string(threads) + " threads", [=] { return barriers_hold(threads, 200); });
  }
  ck.run("cpu pool: a region inside a region runs on its caller", [] {
    std::atomic<int> inner_sizes{0};
    cpu::parallel(3, [&](cpu::Team&) {
      cpu::parallel(3, [&](cpu::Team& inner) { inner_sizes.fetch_add(inner.size()); });
    });
    return inner_sizes.load() >= 1 && inner_sizes.load() <= 3 ? std::string()
                                                               : "inner team sizes add up to " + std::to_string(inner_sizes.load());
  });
  ck.run("cpu pool: 4 threads starting 300 regions each at once", [] {
    std::vector<std::string> errors(4);
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; ++c) {
      callers.emplace_back([&errors, c] {
        for (int r = 0; r < 300 && errors[c].empty(); ++r) errors[c] = loops_once(3, 257 + r, 1 + r % 5);
      });
    }
    for (std::thread& t : callers) t.join();
    for (const std::string& e : errors)
      if (!e.empty()) return e;
    return std::string();
  });
  for (int threads : {1, 2, 3, 7}) {
    for (int64_t n : {0, 1, 5, 1000, 4097}) {
      for (int64_t chunk : {1, 3, 64, 5000}) {
        ck.run("cpu pool: chunks of " + std::to_string(chunk) + " over " + std::to_string(n) + " on " + std::to_string(threads) +
                   " threads visit each index once",
               [=] { return chunks_once(threads, n, chunk); });
      }
    }
  }
  ck.run("cpu pool: chunks inside a region or inside chunks run on their caller", [] {
    std::atomic<int> calls{0}, slots{0};
    cpu::parallel(2, [&](cpu::Team&) {
      cpu::parallel_chunks(3, 100, 1, [&](int64_t, int64_t, int slot) { calls.fetch_add(1), slots.fetch_add(slot); });
    });
    cpu::parallel_chunks(2, 2, 1, [&](int64_t, int64_t, int) {
      cpu::parallel_chunks(3, 100, 1, [&](int64_t, int64_t, int slot) { calls.fetch_add(1), slots.fetch_add(slot); });
    });
    return slots.load() == 0 && calls.load() >= 3 && calls.load() <= 4 ? std::string()
                                                                        : std::to_string(calls.load()) + " inner calls, slots adding up to " + std::to_string(slots.load());
  });
  // The pool's threads asleep (past their idle spin) when each loop starts: they join late or
  // after the caller returned, which must neither lose an index nor touch a finished loop.
  ck.run("cpu pool: 200 chunked loops started while the pool sleeps", [] {
    for (int r = 0; r < 200; ++r) {
      std::this_thread::sleep_for(std::chrono::microseconds(r % 2 == 0 ? 400 : 0));
      std::string e = chunks_once(2 + r % 3, 1 + r % 9, 1);
      if (!e.empty()) return e;
    }
    return std::string();
  });
#ifdef DENDRITE_THREADS
  // A loop's first chunk holds its caller until another thread has run the second: a pool thread
  // asleep when the loop starts is woken and joins that loop (not only the next one).
  ck.run("cpu pool: a pool thread asleep when a chunked loop starts joins it", [] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // past the pool's idle spin
    std::atomic<bool> second{false}, timed_out{false};
    cpu::parallel_chunks(2, 2, 1, [&](int64_t begin, int64_t, int slot) {
      if (begin == 1) {
        second = true;
        return;
      }
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      while (slot == 0 && !second && !(timed_out = std::chrono::steady_clock::now() > until)) std::this_thread::yield();
    });
    return timed_out ? std::string("no pool thread joined the loop within 5 s") : std::string();
  });
#endif
  ck.run("cpu pool: 4 threads starting 300 chunked loops and regions each at once", [] {
    std::vector<std::string> errors(4);
    std::vector<std::thread> callers;
    for (int c = 0; c < 4; ++c) {
      callers.emplace_back([&errors, c] {
        for (int r = 0; r < 300 && errors[c].empty(); ++r)
          errors[c] = r % 2 == 0 ? chunks_once(3, 257 + r, 1 + r % 5) : loops_once(3, 257 + r, 1 + r % 5);
      });
    }
    for (std::thread& t : callers) t.join();
    for (const std::string& e : errors)
      if (!e.empty()) return e;
    return std::string();
  });
}

}  // namespace dendrite::test
