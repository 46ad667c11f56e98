// The thread pool behind parallel() (parallel.h).
//
// Helpers live in one process-wide pool, never destroyed (a helper may outlive the statics at
// exit). A region claims idle helpers (a flag each, compare-and-swap: no lock on the way in),
// starts new ones when too few are idle, hands each its part by bumping its ticket, runs part 0
// itself and waits for the others. An idle helper spins for a short while (regions of one job
// follow each other within microseconds), then sleeps on its condition variable.
#include "parallel.h"

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define DENDRITE_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define DENDRITE_PAUSE() asm volatile("yield")
#else
#define DENDRITE_PAUSE() ((void)0)
#endif

#if defined(__unix__) || defined(__APPLE__)
#include <sys/resource.h>
#endif
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace dendrite::cpu {
namespace {

// The most threads one region may have (the API's limit on `threads`).
constexpr int kMaxThreads = 1024;
// How long an idle helper spins before it sleeps, and how many spins a waiter makes before it
// starts yielding its core (a descheduled team mate needs it).
constexpr auto kIdleSpin = std::chrono::microseconds(200);
constexpr int kSpinsBeforeYield = 2000;

// Built without threads (DENDRITE_OPENMP=OFF): every region runs on its caller alone.
#ifdef DENDRITE_THREADS
constexpr bool kThreaded = true;
#else
constexpr bool kThreaded = false;
#endif

// Nonzero on pool threads and inside a region: a nested region runs alone.
thread_local int region_depth = 0;
// Nonzero while a RegionsAlone lives on this thread.
thread_local int regions_alone = 0;

template <class Done>
void wait_until(Done done) {
  for (int spins = 0; !done(); ++spins) {
    if (spins < kSpinsBeforeYield) DENDRITE_PAUSE();
    else std::this_thread::yield();
  }
}

// One run_chunks call, on the heap: a pool thread may still look at it after the caller
// returned (to find it has nothing left). The last of its users frees it.
class ChunkJob {
 public:
  ChunkJob(ChunkBody call, void* body, int64_t n, int64_t chunk, int slots)
      : call_(call), body_(body), n_(n), chunk_(chunk), slots_(slots), slot_(new Slot[slots]) {
    const int64_t chunks = (n + chunk - 1) / chunk;
    for (int s = 0; s < slots_; ++s) {
      slot_[s].next.store(chunks * s / slots_, std::memory_order_relaxed);
      slot_[s].end = chunks * (s + 1) / slots_;
    }
  }

  // Slots no pool thread has taken (nor the caller closed).
  int free_slots() const {
    int free = 0;
    for (int s = 1; s < slots_; ++s) free += slot_[s].state.load(std::memory_order_relaxed) == kFree;
    return free;
  }

  // Whether a pool thread could join: a slot free and a chunk left.
  bool joinable() const {
    bool free = false, left = false;
    for (int s = 1; s < slots_ && !free; ++s) free = slot_[s].state.load(std::memory_order_relaxed) == kFree;
    for (int s = 0; s < slots_ && free && !left; ++s) left = slot_[s].next.load(std::memory_order_relaxed) < slot_[s].end;
    return free && left;
  }

  // A pool thread joins: the free slot (>= 1) it now holds, or 0 when none is free. Under the
  // registry's lock (OpenJobs), so that the caller cannot close the slots meanwhile.
  int join() {
    for (int s = 1; s < slots_; ++s) {
      int free = kFree;
      if (slot_[s].state.compare_exchange_strong(free, kTaken, std::memory_order_acq_rel)) {
        users_.fetch_add(1, std::memory_order_relaxed);
        return s;
      }
    }
    return 0;
  }

  // Takes chunks until none is left: its own share first (the same share call after call, so the
  // data it read last time is still in its core's cache), then what the others have not taken.
  void work(int slot) {
    for (int k = 0; k < slots_; ++k) {
      Slot& share = slot_[(slot + k) % slots_];
      for (;;) {
        const int64_t c = share.next.fetch_add(1, std::memory_order_relaxed);
        if (c >= share.end) break;
        call_(body_, c * chunk_, std::min(n_, (c + 1) * chunk_), slot);
      }
    }
  }

  // A joined slot has finished its chunks.
  void depart(int slot) { slot_[slot].state.store(kDone, std::memory_order_release); }

  // The caller, its own chunks done and the job out of the registry: closes the free slots and
  // waits for the taken ones to finish their chunks.
  void close() {
    for (int s = 1; s < slots_; ++s) {
      int free = kFree;
      if (slot_[s].state.compare_exchange_strong(free, kClosed, std::memory_order_acq_rel)) continue;
      wait_until([&] { return slot_[s].state.load(std::memory_order_acquire) == kDone; });
    }
  }

  void leave() {
    if (users_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  enum { kFree, kTaken, kDone, kClosed };
  struct alignas(64) Slot {  // a cache line each: the slots' threads update them at once
    std::atomic<int64_t> next{0};  // its share of chunks: [next, end)
    int64_t end = 0;
    std::atomic<int> state{kFree};
  };
  const ChunkBody call_;
  void* const body_;  // the caller's: touched only inside chunks, which all end before it returns
  const int64_t n_, chunk_;
  const int slots_;
  std::atomic<int> users_{1};  // the caller and the threads that joined
  std::unique_ptr<Slot[]> slot_;
};

// The chunked loops running now, where idle pool threads look for work: a thread joins whatever
// loop still has chunks when it wakes, rather than one it was handed while asleep.
class OpenJobs {
 public:
  // Whether a pool thread could join one (a slot free): read at every turn of an idle spin.
  bool any() const { return free_slots_.load(std::memory_order_relaxed) > 0; }

  void add(ChunkJob* job) {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.push_back(job);
    free_slots_.fetch_add(job->free_slots(), std::memory_order_relaxed);
  }

  void remove(ChunkJob* job) {
    std::lock_guard<std::mutex> lock(mutex_);
    jobs_.erase(std::find(jobs_.begin(), jobs_.end(), job));
    free_slots_.fetch_sub(job->free_slots(), std::memory_order_relaxed);
  }

  // For the idle pool thread whose flag is `claimed`: joins a job with a free slot and chunks
  // left, setting the flag (unless a region claimed the thread first); the job, its slot in
  // *slot, or nullptr (the flag untouched).
  ChunkJob* join(std::atomic<bool>& claimed, int* slot) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (ChunkJob* job : jobs_) {
      if (!job->joinable()) continue;
      bool idle = false;
      if (!claimed.compare_exchange_strong(idle, true, std::memory_order_acquire)) return nullptr;
      *slot = job->join();  // a free slot stays free while the lock is held
      if (*slot != 0) free_slots_.fetch_sub(1, std::memory_order_relaxed);
      return job;
    }
    return nullptr;
  }

 private:
  std::mutex mutex_;
  std::vector<ChunkJob*> jobs_;
  std::atomic<int> free_slots_{0};  // of the jobs in jobs_
};

OpenJobs& open_jobs() {
  static OpenJobs* jobs = new OpenJobs;  // never destroyed, as the pool
  return *jobs;
}

class Helper {
 public:
  std::atomic<bool> claimed{false};

  // Hands this (claimed) helper part `id` of a region.
  void start(RegionBody call, void* body, TeamState* state, int id) {
    call_ = call;
    body_ = body;
    state_ = state;
    id_ = id;
    ticket_.fetch_add(1, std::memory_order_seq_cst);
    if (sleeping_.load(std::memory_order_seq_cst)) {
      std::lock_guard<std::mutex> lock(mutex_);
      wake_.notify_one();
    }
  }

  // Whether it sleeps until its next ticket (past its idle spin): waking it takes tens of microseconds.
  bool asleep() const { return sleeping_.load(std::memory_order_seq_cst); }

  // Wakes a sleeping helper without work: it spins for the next region for a while (kIdleSpin).
  void nudge() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      nudged_ = true;
    }
    wake_.notify_one();
  }

  // Ends the thread of a helper that was never published (nor claimed) and waits for it: its
  // thread no longer counts against the user's thread limit when the next one starts.
  void retire() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      retiring_ = true;
      ticket_.fetch_add(1, std::memory_order_seq_cst);
      wake_.notify_one();
    }
    thread_.join();
  }

  // Starts this helper's thread; false (and `why`) when the system refuses.
  bool run(std::string& why) {
    // EAGAIN also while a thread that just ended is still counted by the kernel (the moment
    // between its join and its release): a few short retries, then it is the limit.
    for (int attempt = 0;; ++attempt) {
      try {
        thread_ = std::thread([this] { loop(); });
        return true;
      } catch (const std::system_error& e) {
        why = e.code().message();
        if (e.code() != std::errc::resource_unavailable_try_again || attempt == 3) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1 << attempt));
      }
    }
  }

  // Joins a chunked loop that has chunks left (OpenJobs) and runs them; false when there was none.
  bool run_open_job() {
    int slot = 0;
    ChunkJob* job = open_jobs().join(claimed, &slot);
    if (job == nullptr) return false;
    if (slot == 0) {  // not expected: a free slot stays free under the registry's lock
      claimed.store(false, std::memory_order_release);
      return false;
    }
    job->work(slot);
    // Free before departing: a caller that goes on to its next loop finds this thread idle.
    claimed.store(false, std::memory_order_release);
    job->depart(slot);
    job->leave();
    return true;
  }

  // Its thread's system id (0 until the thread has started, or where there is none).
  int system_id() const { return system_id_.load(std::memory_order_acquire); }

  void loop() {
#if defined(__linux__)
    system_id_.store(static_cast<int>(::syscall(SYS_gettid)), std::memory_order_release);
#endif
    region_depth = 1;
    uint32_t seen = 0;
    for (;;) {
      auto until = std::chrono::steady_clock::now() + kIdleSpin;
      for (int spins = 0; ticket_.load(std::memory_order_acquire) == seen; ++spins) {
        if (open_jobs().any() && run_open_job()) {
          until = std::chrono::steady_clock::now() + kIdleSpin;
          continue;
        }
        DENDRITE_PAUSE();
        if ((spins & 255) == 255 && std::chrono::steady_clock::now() >= until) {
          std::unique_lock<std::mutex> lock(mutex_);
          // seq_cst with start(): either this sees the new ticket or start() sees sleeping_.
          sleeping_.store(true, std::memory_order_seq_cst);
          while (ticket_.load(std::memory_order_seq_cst) == seen && !nudged_) wake_.wait(lock);
          nudged_ = false;
          sleeping_.store(false, std::memory_order_relaxed);
          until = std::chrono::steady_clock::now() + kIdleSpin;
        }
      }
      seen = ticket_.load(std::memory_order_acquire);
      {
        std::lock_guard<std::mutex> lock(mutex_);  // retire() may still hold it
        if (retiring_) return;
      }
      TeamState* state = state_;
      Team team(state, id_);
      call_(body_, team);
      // Free for the next region first: after `finished` the region's state may be gone.
      claimed.store(false, std::memory_order_release);
      state->finished.fetch_add(1, std::memory_order_acq_rel);
    }
  }

 private:
  std::atomic<uint32_t> ticket_{0};
  std::atomic<int> system_id_{0};
  std::atomic<bool> sleeping_{false};
  bool nudged_ = false;    // under mutex_
  bool retiring_ = false;  // under mutex_
  std::thread thread_;  // never joined once published: the pool outlives the statics at exit
  std::mutex mutex_;
  std::condition_variable wake_;
  RegionBody call_ = nullptr;
  void* body_ = nullptr;
  TeamState* state_ = nullptr;
  int id_ = 0;
};

class Pool {
 public:
  // Claims up to `want` helpers into `out`, starting new ones when too few are idle; returns
  // how many it got.
  int acquire(int want, Helper** out) {
    int got = claim_idle(want, out, 0);
    if (got < want) {
      std::lock_guard<std::mutex> lock(grow_mutex_);
      got = claim_idle(want, out, got);  // one may have finished meanwhile
      while (got < want) {
        Helper* h = add_helper();
        if (h == nullptr) break;
        h->claimed.store(true, std::memory_order_relaxed);
        out[got++] = h;
      }
    }
    return got;
  }

  // Makes `want` idle helpers look for chunked loops (OpenJobs): the awake ones do already; it
  // wakes sleeping ones, and starts new ones while the pool has fewer than `want` in all (busy
  // ones are not replaced: chunks run without them).
  void wake_idle(int want) {
    int awake = 0;
    const int n = size_.load(std::memory_order_acquire);
    for (int i = 0; i < n && awake < want; ++i) {
      Helper* h = helpers_[i];
      if (h->claimed.load(std::memory_order_relaxed)) continue;
      if (h->asleep()) h->nudge();
      ++awake;
    }
    if (awake < want && n < want) {
      std::lock_guard<std::mutex> lock(grow_mutex_);
      while (awake < want && size_.load(std::memory_order_relaxed) < want) {
        if (add_helper() == nullptr) break;
        ++awake;
      }
    }
  }

  // The system ids of the helpers' threads (those started), at most `max` into out; how many.
  int system_ids(int* out, int max) const {
    const int n = std::min(size_.load(std::memory_order_acquire), max);
    int got = 0;
    for (int i = 0; i < n; ++i) {
      if (const int id = helpers_[i]->system_id()) out[got++] = id;
    }
    return got;
  }

  // Helpers until there are `count`; "" or why not. All or nothing: when not all can be started,
  // the new ones end again, so that a refused request leaves the process below its thread limit
  // (Node and its libraries start threads of their own).
  std::string reserve(int count) {
    std::lock_guard<std::mutex> lock(grow_mutex_);
    const int have = size_.load(std::memory_order_relaxed);
    std::vector<Helper*> fresh;
    while (have + static_cast<int>(fresh.size()) < count) {
      Helper* h = start_helper();
      if (h == nullptr) {
        for (Helper* r : fresh) {
          r->retire();
          delete r;
        }
        return "only " + std::to_string(have + static_cast<int>(fresh.size()) + 1) + " threads could be started (" + last_error_ + ")";
      }
      fresh.push_back(h);
    }
    for (Helper* h : fresh) publish(h);
    return "";
  }

 private:
  int claim_idle(int want, Helper** out, int got) {
    const int n = size_.load(std::memory_order_acquire);
    for (int i = 0; i < n && got < want; ++i) {
      bool idle = false;
      if (!helpers_[i]->claimed.load(std::memory_order_relaxed) &&
          helpers_[i]->claimed.compare_exchange_strong(idle, true, std::memory_order_acquire)) {
        out[got++] = helpers_[i];
      }
    }
    return got;
  }

  // Under grow_mutex_: a new published helper (unclaimed), or nullptr when none could be started.
  Helper* add_helper() {
    Helper* h = start_helper();
    if (h != nullptr) publish(h);
    return h;
  }

  // Under grow_mutex_: a helper with its thread running, not yet in the pool.
  Helper* start_helper() {
    if (size_.load(std::memory_order_relaxed) >= kMaxThreads - 1) {
      last_error_ = "at most " + std::to_string(kMaxThreads) + " threads";
      return nullptr;
    }
    Helper* h = new (std::nothrow) Helper;
    if (h == nullptr) {
      last_error_ = "out of memory";
      return nullptr;
    }
    if (!h->run(last_error_)) {
      delete h;
      return nullptr;
    }
    return h;
  }

  void publish(Helper* h) {
    const int n = size_.load(std::memory_order_relaxed);
    helpers_[n] = h;
    size_.store(n + 1, std::memory_order_release);
  }

  Helper* helpers_[kMaxThreads] = {};
  std::atomic<int> size_{0};
  std::mutex grow_mutex_;
  std::string last_error_;
};

Pool& pool() {
  static Pool* p = new Pool;  // never destroyed: its threads outlive the statics at exit
  return *p;
}

}  // namespace

void Team::barrier() {
  TeamState& s = *state_;
  if (s.size == 1) return;
  const uint32_t generation = s.generation.load(std::memory_order_acquire);
  if (s.arrived.fetch_add(1, std::memory_order_acq_rel) + 1 == s.size) {
    s.arrived.store(0, std::memory_order_relaxed);
    s.generation.store(generation + 1, std::memory_order_release);
  } else {
    wait_until([&] { return s.generation.load(std::memory_order_acquire) != generation; });
  }
}

void wait_for(const std::atomic<int64_t>& counter, int64_t target) {
  wait_until([&] { return counter.load(std::memory_order_acquire) >= target; });
}

void run_region(int threads, RegionBody call, void* body) {
  TeamState state;
  Helper* helpers[kMaxThreads];
  const int got = kThreaded && threads > 1 && region_depth == 0 && regions_alone == 0
                      ? pool().acquire(std::min(threads, kMaxThreads) - 1, helpers) : 0;
  state.size = got + 1;
  for (int i = 0; i < got; ++i) helpers[i]->start(call, body, &state, i + 1);
  ++region_depth;
  Team team(&state, 0);
  call(body, team);
  --region_depth;
  wait_until([&] { return state.finished.load(std::memory_order_acquire) == got; });
}

RegionsAlone::RegionsAlone() { ++regions_alone; }
RegionsAlone::~RegionsAlone() { --regions_alone; }

void run_chunks(int threads, int64_t n, int64_t chunk, ChunkBody call, void* body) {
  if (n <= 0) return;
  chunk = std::max<int64_t>(1, chunk);
  const int64_t chunks = (n + chunk - 1) / chunk;
  const int slots = static_cast<int>(std::min<int64_t>(std::min(threads, kMaxThreads), chunks));
  ChunkJob* job = nullptr;
  if (kThreaded && slots > 1 && region_depth == 0) {
    try {
      job = new ChunkJob(call, body, n, chunk, slots);
      open_jobs().add(job);
    } catch (const std::bad_alloc&) {  // no memory for the bookkeeping: the caller runs it all
      delete job;
      job = nullptr;
    }
  }
  if (job == nullptr) {
    call(body, 0, n, 0);
    return;
  }
  pool().wake_idle(slots - 1);
  ++region_depth;
  job->work(0);
  --region_depth;
  open_jobs().remove(job);
  job->close();
  job->leave();
}

int pool_system_ids(int* out, int max) { return pool().system_ids(out, max); }

std::string reserve_threads(int threads) {
  if (!kThreaded) return "";
  std::string why = pool().reserve(std::min(threads, kMaxThreads) - 1);
  if (why.empty()) return why;
#if defined(__unix__) || defined(__APPLE__)
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NPROC, &rl) == 0) {
    why += "; the limit on processes and threads of this user (ulimit -u) is " +
           (rl.rlim_cur == RLIM_INFINITY ? std::string("unlimited") : std::to_string(static_cast<unsigned long long>(rl.rlim_cur)));
  }
#endif
  return "the system cannot start that many threads: " + why + "; use fewer threads";
}

}  // namespace dendrite::cpu
