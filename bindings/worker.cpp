#include "worker.h"

#include <new>

#include "cpu_executor.h"

namespace dendrite::bindings {

Napi::Error to_js_error(Napi::Env env, ErrorKind kind, const std::string& message) {
  Napi::Error error;
  const char* code = "ERR_DENDRITE_INTERNAL";
  switch (kind) {
    case ErrorKind::InvalidArgument:
      error = Napi::TypeError::New(env, message);
      code = "ERR_DENDRITE_INVALID_ARGUMENT";
      break;
    case ErrorKind::OutOfRange:
      error = Napi::RangeError::New(env, message);
      code = "ERR_DENDRITE_OUT_OF_RANGE";
      break;
    case ErrorKind::DeviceUnavailable:
      error = Napi::Error::New(env, message);
      code = "ERR_DENDRITE_DEVICE_UNAVAILABLE";
      break;
    case ErrorKind::OutOfMemory:
      error = Napi::Error::New(env, message);
      code = "ERR_DENDRITE_OUT_OF_MEMORY";
      break;
    case ErrorKind::Internal:
      error = Napi::Error::New(env, message);
      break;
  }
  error.Set("code", Napi::String::New(env, code));
  return error;
}

JobFailure run_catching(const std::function<void()>& job) {
  JobFailure f;
  try {
    job();
  } catch (const Error& e) {
    f = {true, e.kind(), e.what()};
  } catch (const std::bad_alloc&) {
    f = {true, ErrorKind::OutOfMemory, "out of memory"};
  } catch (const std::exception& e) {
    f = {true, ErrorKind::Internal, e.what()};
  } catch (...) {
    f = {true, ErrorKind::Internal, "unknown native error"};
  }
  return f;
}

void settle(Napi::Env env, Napi::Promise::Deferred& deferred, const JobFailure& failure, const std::string& context,
            const std::function<Napi::Value()>& result) {
  if (failure.failed) {
    deferred.Reject(to_js_error(env, failure.kind, context + failure.message).Value());
    return;
  }
  try {
    deferred.Resolve(result());
  } catch (const Napi::Error& e) {
    deferred.Reject(e.Value());
  }
}

PromiseWorker::PromiseWorker(Napi::Env env, const Target& target, Job job, Finish finish)
    : Napi::AsyncWorker(env, "dendrite"),
      deferred_(Napi::Promise::Deferred::New(env)),
      target_(target),
      job_(std::move(job)),
      finish_(std::move(finish)) {}

Napi::Promise PromiseWorker::queue(Napi::Env env, const Target& target, std::vector<Napi::Value> keep, Job job,
                                   Napi::Value result, Finish finish) {
  auto* worker = new PromiseWorker(env, target, std::move(job), std::move(finish));
  worker->result_ = Napi::Persistent(result);
  for (Napi::Value& v : keep) {
    if (!v.IsUndefined()) worker->keep_.push_back(Napi::Persistent(v));
  }
  Napi::Promise promise = worker->deferred_.Promise();
  worker->Queue();  // the worker deletes itself after OnOK / OnError
  return promise;
}

void PromiseWorker::Execute() {
  // Runs on a libuv worker thread: no JS here.
  failure_ = run_catching([this] {
    if (target_.device.kind == DeviceKind::Cuda) {
      std::unique_ptr<Backend> backend = make_cuda_backend(target_.device.index);
      job_(*backend);
    } else {
      run_on_cpu_executor([this] {
        std::unique_ptr<Backend> backend = make_cpu_backend(target_.threads);
        job_(*backend);
      });
    }
  });
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  settle(env, deferred_, failure_, "", [&] {
    Napi::Value result = result_.Value();
    return finish_ ? finish_(env, result) : result;
  });
}

void PromiseWorker::OnError(const Napi::Error& error) { deferred_.Reject(error.Value()); }

namespace {

class ClassWorker final : public Napi::AsyncWorker {
 public:
  ClassWorker(Napi::Env env, ClassJob job)
      : Napi::AsyncWorker(env, "dendrite:class"), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)) {
    self_ = Napi::Persistent(job_.self);
    for (Napi::Value& v : job_.keep) {
      if (!v.IsUndefined()) keep_.push_back(Napi::Persistent(v));
    }
    job_.keep.clear();  // handles of this call's scope: only the references above outlive it
    job_.self = Napi::Object();
  }
  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    // A libuv worker thread: no JS here.
    failure_ = run_catching([this] {
      if (job_.cpu) run_on_cpu_executor(job_.run);
      else job_.run();
    });
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    *job_.busy = false;
    settle(env, deferred_, failure_, job_.context, [&] { return job_.finish(env); });
  }
  void OnError(const Napi::Error& error) override {
    *job_.busy = false;
    deferred_.Reject(error.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  ClassJob job_;
  Napi::ObjectReference self_;  // keeps the instance (and so its native object and busy flag) alive
  std::vector<Napi::Reference<Napi::Value>> keep_;
  JobFailure failure_;
};

}  // namespace

Napi::Promise queue_class_job(Napi::Env env, ClassJob job) {
  if (*job.busy) throw Napi::Error::New(env, job.context + "another call on this object is still running (await it first)");
  bool* busy = job.busy;
  auto* worker = new ClassWorker(env, std::move(job));
  Napi::Promise promise = worker->promise();
  *busy = true;
  worker->Queue();  // deletes itself after OnOK / OnError
  return promise;
}

}  // namespace dendrite::bindings
