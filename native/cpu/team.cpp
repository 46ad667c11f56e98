// team_size(): how many threads a parallel region gets now (kernels.h).
//
// A team larger than the cores other processes leave free is the worst case for a parallel region: every
// barrier waits for a thread the kernel has descheduled in favour of the other process, for up to a
// scheduler time slice. Measured here by hand, one busy process beside a 100x784x500 GEMM: 2 threads ran
// at 2.2 GFLOP/s (median), 1 thread at 112. So the team is cut to the free cores: the runnable tasks
// of the machine (/proc/loadavg) less this process's own runnable threads (/proc/self/task/*/stat:
// its pool threads spin between regions, so they must not count as other load). Sampled at most
// every 20 ms; a cut needs two samples in a row that show other load (a one-off blip costs nothing),
// the full team comes back at the first sample without. Every kernel's result is the same for any
// thread count, so this changes speed only. Linux only; elsewhere the team is what was asked for.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#if defined(__linux__)
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#endif

#include "kernels.h"

namespace dendrite::cpu {
namespace {

#if defined(__linux__)
// Reads a small /proc file into buf (NUL-terminated); false when it cannot be read.
bool read_small(const char* path, char* buf, size_t size) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t n = ::read(fd, buf, size - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  return true;
}

// Runnable tasks of the whole machine: the numerator of /proc/loadavg's fourth field ("3/412").
int machine_runnable() {
  char buf[256];
  if (!read_small("/proc/loadavg", buf, sizeof buf)) return -1;
  const char* p = buf;
  for (int field = 0; field < 3 && p; ++field) {
    p = std::strchr(p, ' ');
    if (p) ++p;
  }
  return p ? std::atoi(p) : -1;
}

// Runnable threads of this process: state R in /proc/self/task/<tid>/stat (after "(comm) ").
int own_runnable() {
  DIR* dir = ::opendir("/proc/self/task");
  if (!dir) return -1;
  int running = 0;
  char path[320], buf[512];
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
    if (!read_small(path, buf, sizeof buf)) continue;
    const char* close = std::strrchr(buf, ')');
    if (close && close[1] == ' ' && close[2] == 'R') ++running;
  }
  ::closedir(dir);
  return running;
}

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}
#endif

struct Governor {
  std::mutex mutex;
  std::chrono::steady_clock::time_point next{};
  int busy_samples = 0;           // samples in a row that showed other load
  std::atomic<int> free_cores{1 << 20};  // cores the team may use (huge: no cut)
};

Governor& governor() {
  static Governor* g = new Governor;  // never destroyed: used by threads that outlive statics
  return *g;
}

bool governor_enabled() {
  static const bool on = [] {
    const char* env = std::getenv("DENDRITE_ADAPTIVE_THREADS");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  return on;
}

void sample(Governor& g) {
#if defined(__linux__)
  const int machine = machine_runnable();
  const int own = own_runnable();
  if (machine < 0 || own < 0) return;
  const int cores = usable_cores();
  const int others = std::max(0, machine - own);
  if (others == 0) {
    g.busy_samples = 0;
    g.free_cores.store(1 << 20);
  } else if (++g.busy_samples >= 2) {
    g.free_cores.store(std::max(1, cores - others));
  }
#else
  (void)g;
#endif
}

}  // namespace

int team_size(int requested) {
  if (requested <= 1 || !governor_enabled()) return std::max(1, requested);
  Governor& g = governor();
  const auto now = std::chrono::steady_clock::now();
  {
    std::unique_lock<std::mutex> lock(g.mutex, std::try_to_lock);
    // One thread samples; the others use the last value rather than wait.
    if (lock.owns_lock() && now >= g.next) {
      g.next = now + std::chrono::milliseconds(20);
      sample(g);
    }
  }
  return std::max(1, std::min(requested, g.free_cores.load()));
}

int team_limit() {
  const int free = governor().free_cores.load();
  return free >= (1 << 20) ? 0 : free;
}

}  // namespace dendrite::cpu
