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
  // Runs on a libuv worker thread: no JS here, and nothing may escape as an exception.
  try {
    if (target_.device.kind == DeviceKind::Cuda) {
      std::unique_ptr<Backend> backend = make_cuda_backend(target_.device.index);
      job_(*backend);
    } else {
      run_on_cpu_executor([this] {
        std::unique_ptr<Backend> backend = make_cpu_backend(target_.threads);
        job_(*backend);
      });
    }
  } catch (const Error& e) {
    failed_ = true;
    error_kind_ = e.kind();
    error_message_ = e.what();
  } catch (const std::bad_alloc&) {
    failed_ = true;
    error_kind_ = ErrorKind::OutOfMemory;
    error_message_ = "out of memory";
  } catch (const std::exception& e) {
    failed_ = true;
    error_message_ = e.what();
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (failed_) {
    deferred_.Reject(to_js_error(env, error_kind_, error_message_).Value());
    return;
  }
  try {
    Napi::Value result = result_.Value();
    deferred_.Resolve(finish_ ? finish_(env, result) : result);
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

void PromiseWorker::OnError(const Napi::Error& error) { deferred_.Reject(error.Value()); }

}  // namespace dendrite::bindings
