// team_size(): how many threads a parallel region gets now (kernels.h).
//
// A team larger than the cores other processes leave free is the worst case for a parallel region: every
// barrier waits for a thread the kernel has descheduled in favour of the other process, for up to a
// scheduler time slice. Measured here by hand, one busy process beside a 100x784x500 GEMM: 2 threads ran
// at 2.2 GFLOP/s (median), 1 thread at 112. So the team is cut to the free cores: the runnable tasks
// of the machine (/proc/loadavg) less this process's own runnable threads (/proc/self/task/*/stat:
// its pool threads spin between regions, so they must not count as other load). Sampled at most
// every 20 ms; a cut needs three samples in a row that show other load (a blip costs nothing),
// the full team comes back at the first sample without. Other load of niced tasks only (a nice 19
// job: what /proc/stat counts under `nice` over the last 200 ms, all but nothing under user and
// system once this process's own time is taken out) is no load: the scheduler gives such tasks
// about 1.5 % of a core beside ours, and the pool's helpers do not wait for descheduled threads
// as OpenMP's did (measured, `npm run bench -- baselines --cotenant`: beside one nice 19 job the
// 1x28x28 CNN trained 4,496 examples/s on 2 threads with DENDRITE_ADAPTIVE_THREADS=0 and 3,310
// when cut to 1 thread). Every kernel's result is the same for any
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
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "kernels.h"
#include "parallel.h"

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

// Whether this process's thread `tid` (a name in /proc/self/task) is runnable: state R in its
// stat file (after "(comm) ").
bool task_runnable(const char* tid) {
  char path[320], buf[512];
  std::snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
  if (!read_small(path, buf, sizeof buf)) return false;
  const char* close = std::strrchr(buf, ')');
  return close && close[1] == ' ' && close[2] == 'R';
}

// Runnable threads of this process.
int own_runnable() {
  DIR* dir = ::opendir("/proc/self/task");
  if (!dir) return -1;
  int running = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9' && task_runnable(e->d_name)) ++running;
  }
  ::closedir(dir);
  return running;
}

// A lower bound of own_runnable(): the calling thread and the pool's runnable threads. A handful
// of stat files instead of one per thread of the process (Node's included: about 28 reads,
// 0.3-0.5 ms a sample on this project's virtual machine).
int own_runnable_at_least() {
  int ids[64];
  const int n = pool_system_ids(ids, 64);
  const int self = static_cast<int>(::syscall(SYS_gettid));
  int running = 1;
  char tid[16];
  for (int i = 0; i < n; ++i) {
    if (ids[i] == self) continue;
    std::snprintf(tid, sizeof tid, "%d", ids[i]);
    if (task_runnable(tid)) ++running;
  }
  return running;
}

// Clock ticks the machine spent on tasks of normal priority: user + system + irq + softirq of
// /proc/stat's first line (`nice`, the time of niced tasks, left out), or -1.
long long machine_normal_ticks() {
  char buf[512];
  if (!read_small("/proc/stat", buf, sizeof buf)) return -1;
  unsigned long long user, nice, system, idle, iowait, irq, softirq;
  if (std::sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle, &iowait, &irq, &softirq) != 7) return -1;
  return static_cast<long long>(user + system + irq + softirq);
}

// Clock ticks this process has run (user + system: /proc/self/stat fields 14 and 15), or -1.
long long own_ticks() {
  char buf[1024];
  if (!read_small("/proc/self/stat", buf, sizeof buf)) return -1;
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return -1;
  // After ") ": field 3 (state) onwards; utime and stime are fields 14 and 15.
  unsigned long long utime = 0, stime = 0;
  int field = 2;
  for (const char* q = p + 1; *q != '\0'; ++q) {
    if (*q != ' ') continue;
    ++field;
    if (field == 14) utime = std::strtoull(q + 1, nullptr, 10);
    if (field == 15) {
      stime = std::strtoull(q + 1, nullptr, 10);
      return static_cast<long long>(utime + stime);
    }
  }
  return -1;
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
  int busy_samples_any = 0;        // the same counting niced tasks (team_size_alone)
  std::atomic<int> free_cores_any{1 << 20};
  // Whether the other load of the last window of at least kWindow was niced tasks only (their
  // time counted under /proc/stat's `nice`): they yield the cores to ours, so no cut.
  bool others_niced = false;
  std::chrono::steady_clock::time_point window_start{};
  long long window_normal = -1, window_own = -1;
};

// Samples in a row that must show other load before the team is cut. On this project's quiet
// 2-core virtual machine, with this process's threads read once (after the machine's count), a few
// samples of each segregated training and test run showed a task of another process, now and
// then two in a row, and a cut taken as a long region starts (a test batch) lasts all of it. With
// the threads read before and after, 16 such runs had no cut (8 with two samples, 8 with three);
// three are a margin on top. A busy process is runnable at every sample: it is cut 20 ms later.
constexpr int kBusySamples = 3;

// The window over which the niceness of the other load is judged: /proc/stat counts in ticks of
// 10 ms, so a shorter one would be mostly rounding.
constexpr auto kWindow = std::chrono::milliseconds(200);
// Other tasks of normal priority using less than this many cores over the window count as none
// (kernel threads, interrupts, short-lived commands).
constexpr double kNormalLoadFloor = 0.3;

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

#if defined(__linux__)
// Updates g.others_niced once a window has passed. A process that is itself niced keeps the plain
// rule: its own time is counted under `nice` too.
void judge_niceness(Governor& g, std::chrono::steady_clock::time_point now) {
  static const bool self_niced = getpriority(PRIO_PROCESS, 0) > 0;
  if (self_niced) return;
  if (g.window_normal >= 0 && now - g.window_start < kWindow) return;
  const long long normal = machine_normal_ticks(), own = own_ticks();
  if (normal < 0 || own < 0) return;
  if (g.window_normal >= 0) {
    const double seconds = std::chrono::duration<double>(now - g.window_start).count();
    const double others = static_cast<double>((normal - g.window_normal) - (own - g.window_own)) /
                          (static_cast<double>(sysconf(_SC_CLK_TCK)) * seconds);
    g.others_niced = others < kNormalLoadFloor;
  }
  g.window_start = now;
  g.window_normal = normal;
  g.window_own = own;
}
#endif

void sample(Governor& g, std::chrono::steady_clock::time_point now) {
#if defined(__linux__)
  // Other processes' runnable tasks: none when the machine's are no more than a lower bound of
  // this process's (the usual quiet case, in a handful of /proc reads); else the machine's less
  // this process's, whose runnable threads are read before and after the machine's: a thread of
  // ours that starts or stops running between the reads (a pool thread ending its spin, the caller
  // waking one) is counted as ours, not as another process's load.
  const int machine_first = machine_runnable();
  if (machine_first < 0) return;
  int any = 0;
  if (machine_first > own_runnable_at_least()) {
    const int own_before = own_runnable();
    const int machine = machine_runnable();
    const int own = std::max(own_before, own_runnable());
    if (machine < 0 || own_before < 0) return;
    any = std::max(0, machine - own);
  }
  judge_niceness(g, now);
  const int cores = usable_cores();
  // kBusySamples samples in a row with other load cut the team; the first without restores it.
  auto judge = [cores](int others, int& busy_samples, std::atomic<int>& free_cores) {
    if (others == 0) {
      busy_samples = 0;
      free_cores.store(1 << 20);
    } else if (++busy_samples >= kBusySamples) {
      free_cores.store(std::max(1, cores - others));
    }
  };
  judge(g.others_niced ? 0 : any, g.busy_samples, g.free_cores);
  judge(any, g.busy_samples_any, g.free_cores_any);
#else
  (void)g;
  (void)now;
#endif
}

// Samples the machine at most every 20 ms; the governor.
Governor& sampled() {
  Governor& g = governor();
  const auto now = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(g.mutex, std::try_to_lock);
  // One thread samples; the others use the last value rather than wait.
  if (lock.owns_lock() && now >= g.next) {
    g.next = now + std::chrono::milliseconds(20);
    sample(g, now);
  }
  return g;
}

}  // namespace

int team_size(int requested) {
  if (requested <= 1 || !governor_enabled()) return std::max(1, requested);
  return std::max(1, std::min(requested, sampled().free_cores.load()));
}

int team_size_alone(int requested) {
  if (requested <= 1 || !governor_enabled()) return std::max(1, requested);
  return std::max(1, std::min(requested, sampled().free_cores_any.load()));
}

int team_limit() {
  const int free = governor().free_cores.load();
  return free >= (1 << 20) ? 0 : free;
}

}  // namespace dendrite::cpu
