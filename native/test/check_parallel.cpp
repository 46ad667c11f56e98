// The thread pool of the CPU kernels (native/cpu/parallel.h): every index of a loop visited once,
// whatever the team size; barriers that hold; nested regions on their caller; regions started by
// several threads at once (which claim helpers concurrently and start missing ones).
#include <algorithm>
#include <atomic>
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
}

}  // namespace dendrite::test
