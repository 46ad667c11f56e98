// Runs a native job off the main thread and settles a promise with its result: queue_kernel() for
// the addon's functions, queue_class_job() for the methods of its classes (Sequential,
// SegregatedNetwork). CPU work runs on the one CPU executor thread (cpu_executor.h).
//
// Ownership (docs/architecture.md, "Buffers and termination"): a job reads and writes native
// memory only. Its inputs are copied out of the JS arrays on the main thread when the call is
// made (Args does it as it reads them: Buffer), its outputs are native Buffers handed to JS when
// the promise settles (hand_over), and arrays updated in place are written back then (WriteBack).
// So nothing JS does meanwhile (detaching a buffer by transfer, resizing or shrinking it, changing
// its contents) can reach the job, and the job never touches memory the JS heap owns.
//
// Termination: each job registers an environment cleanup hook. A worker thread terminated (or an
// environment torn down) while a job runs waits in that hook for the job to finish; the completion
// then neither settles the promise nor touches the environment. No C++ exception leaves a
// completion: whatever goes wrong there is caught.
#pragma once

#include <napi.h>

#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "buffer.h"
#include "common/backend.h"
#include "common/error.h"

namespace dendrite::bindings {

struct Target;

// A typed array over a native buffer, handed to JS (no copy where the runtime allows external
// array buffers; a copy otherwise). Main thread.
Napi::Float32Array hand_over(Napi::Env env, const Buffer<float>& b);
Napi::Int32Array hand_over(Napi::Env env, const Buffer<int32_t>& b);
Napi::Uint8Array hand_over(Napi::Env env, const Buffer<uint8_t>& b);

// Builds the JS error for a native error: TypeError / RangeError / Error, with a `code`.
// Out of memory is a RangeError (code ERR_DENDRITE_OUT_OF_MEMORY).
Napi::Error to_js_error(Napi::Env env, ErrorKind kind, const std::string& message);

// What a job threw on a worker thread, carried to the main thread (nothing may escape there).
struct JobFailure {
  bool failed = false;
  ErrorKind kind = ErrorKind::Internal;
  std::string message;
};

// Runs `job`, catching whatever it throws. Every job goes through here.
JobFailure run_catching(const std::function<void()>& job);

// Completion of a job, on the main thread: the value the promise resolves with. `held` are the JS
// values the call asked to hold (JobSpec::hold), in order. A JS error it throws rejects the promise.
using Finish = std::function<Napi::Value(Napi::Env, const std::vector<Napi::Value>& held)>;

// Whether queue_kernel runs a call for `target` at once, on the calling thread (a CPU call of at
// most sync_call_limit() operations), rather than queueing it.
bool runs_on_calling_thread(const Target& target);

// Queues a kernel on a backend for `target`: `job` gets the backend (CPU jobs run on the CPU
// executor; a small one runs at once, runs_on_calling_thread). `hold`: JS values finish() needs
// (arrays updated in place), kept referenced until then.
Napi::Promise queue_kernel(Napi::Env env, const Target& target, std::function<void(Backend&)> job, Finish finish,
                           std::vector<Napi::Value> hold = {});

// One job of a native class instance. While it runs the instance is busy (its methods refuse to
// run: the native object's buffers are in use) and its JS object is referenced; a CPU job runs on
// the CPU executor. The promise resolves with finish() on the main thread, or rejects with the JS
// error of what the job threw, its message prefixed by `context`. The busy flag is cleared first.
// The job's lambdas must own what they use (the native object through a shared_ptr, inputs as
// Buffers): the instance may be disposed or collected once the job is over.
struct ClassJob {
  Napi::Object self;              // the instance's JS object
  bool* busy = nullptr;           // the instance's busy flag (set here, cleared before settling)
  bool cpu = true;                // run on the CPU executor (else on the libuv worker thread: a device job)
  std::function<void()> run;      // on a worker thread: native memory only, no JS
  std::function<Napi::Value(Napi::Env)> finish;  // on the main thread: the value the promise resolves with
  std::string context;            // prefix of the messages of a failed job, e.g. "Sequential.trainChunk: "
};

// Queues the job and returns its promise. Throws a JS Error when the instance is already busy.
Napi::Promise queue_class_job(Napi::Env env, ClassJob job);

// Arrays a job updates in place (sgdUpdate's param, ...): the job works on copies, and at
// completion the new values are written into the JS arrays, provided each still has the length
// and type it had at the call (else a TypeError: it was detached, e.g. transferred, or resized).
struct WriteBack {
  std::string fn;                    // names the call in messages
  std::vector<std::string> names;    // the arrays' option names
  std::vector<Buffer<float>> data;   // their new values
  // Writes every array (held[i] is the JS array of names[i]) or none.
  void write(Napi::Env env, const std::vector<Napi::Value>& held) const;
};

// Native memory held by a JS object (a network): reported to V8 as external memory so that
// dropped objects get collected, and given back to the system when freed.
class ExternalMemory {
 public:
  // Runs make() and measures the heap memory it allocated (0 where it cannot be measured).
  template <class F>
  static auto measured(F&& make, int64_t* bytes) -> decltype(make()) {
    const int64_t before = heap_in_use();
    auto result = make();
    const int64_t after = heap_in_use();
    *bytes = after > before ? after - before : 0;
    return result;
  }
  void report(Napi::Env env, int64_t bytes);
  // Tells V8 the memory is gone (the caller frees it first), and returns free heap memory to the
  // system. Safe in finalizers and at environment teardown; never throws.
  void release() noexcept;

 private:
  static int64_t heap_in_use();
  napi_env env_ = nullptr;
  int64_t bytes_ = 0;
};

// Calls f() on the main thread and turns a native error it throws (dendrite::Error, bad_alloc, any
// std::exception) into the matching JS error, its message prefixed by `context`; JS errors pass
// through. Every synchronous binding entry runs inside this, so no C++ exception reaches N-API.
template <class F>
auto js_errors(Napi::Env env, const std::string& context, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw to_js_error(env, e.kind(), context + e.what());
  } catch (const std::bad_alloc&) {
    throw to_js_error(env, ErrorKind::OutOfMemory, context + "out of memory (a native allocation failed)");
  } catch (const std::exception& e) {
    throw to_js_error(env, ErrorKind::Internal, context + e.what());
  }
}

// A binding function whose native errors become JS errors (js_errors).
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return js_errors(info.Env(), "", [&] { return F(info); });
}

}  // namespace dendrite::bindings
