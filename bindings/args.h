// Argument checking for the addon's functions and classes: the one reader every binding uses.
// Every function or method takes one options object; each value is checked for type, range and
// length here, and every failure names the function and the argument. Nothing below bindings/
// sees an unchecked value (the segregated network's option ranges are checked by seg::validate,
// from the same table as the TS layer's).
#pragma once

#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "buffer.h"
#include "common/devices.h"

namespace dendrite::bindings {

// Where a call runs: a resolved device, the CPU thread count, and the call's estimated work, which
// picks its CPU lane (cpu_executor.h). Each kernel binding sets `work`; unset, a call takes the main lane.
struct Target {
  DeviceSpec device;
  int threads = 1;
  double work = std::numeric_limits<double>::infinity();  // floating-point operations (kWorkPerElement per element of memory-bound kernels)
};

// The work a memory-bound kernel is counted for per element it reads or writes: a load, a store and
// a few operations cost about as much as 8 operations of a compute-bound kernel such as GEMM.
constexpr double kWorkPerElement = 8.0;

// A typed array checked for type and length, and copied into native memory as it is read: `data`
// points into the copy, which the call owns (a job captures the ArrayArg, or its buffer). Nothing
// JS does afterwards (detaching the array by transfer, resizing or shrinking its buffer, writing to
// it) reaches the copy. A SharedArrayBuffer another thread writes meanwhile gives a mix of old and
// new values, never a crash. A borrowed array (float32_input) is not copied: `data` points into
// the JS array's own storage, valid only until JS runs again.
template <class T>
struct ArrayArg {
  Buffer<T> buffer;    // the copy (empty when an optional array was not given, or borrowed)
  T* data = nullptr;   // buffer.data() or the borrowed storage; null when an optional array was not given
  size_t length = 0;
  Napi::Value value;   // the JS array (undefined when absent): only for writing results back at completion
  explicit operator bool() const { return data != nullptr; }
};

class Args {
 public:
  // `fn` names the function in messages; `keys` lists the options it accepts.
  Args(const Napi::CallbackInfo& info, const char* fn, std::initializer_list<const char*> keys);
  // The same with a key list built at run time (of strings that outlive the Args).
  Args(const Napi::CallbackInfo& info, const std::string& fn, std::vector<const char*> keys);
  // A nested options object (e.g. one layer of a network); `fn` names it in messages
  // ("Sequential: layers[2]").
  Args(Napi::Env env, Napi::Value options, const std::string& fn, std::initializer_list<const char*> keys);

  Napi::Env env() const { return env_; }
  const std::string& fn() const { return fn_; }

  // A required integer in [min, max].
  int64_t integer(const char* key, int64_t min, int64_t max) const;
  // An optional integer in [min, max].
  int64_t integer_or(const char* key, int64_t fallback, int64_t min, int64_t max) const;
  // A finite number in [min, max] (optional with a fallback).
  float number_or(const char* key, float fallback, double min, double max) const;
  float number(const char* key, double min, double max) const;
  // An unsigned 64-bit integer given as a number (a safe integer) or a bigint.
  uint64_t u64_or(const char* key, uint64_t fallback) const;
  uint64_t u64(const char* key) const;
  bool boolean_or(const char* key, bool fallback) const;
  std::string string_or(const char* key, const std::string& fallback) const;
  // A required finite number in double precision (no range: for values a native check ranges).
  double real(const char* key) const;
  // A required plain array of finite numbers (no range).
  std::vector<double> reals(const char* key) const;
  // A required string, one of `choices`: its index.
  size_t choice(const char* key, const std::vector<std::string>& choices) const;

  // Typed arrays of an exact length. Optional arrays may be absent (undefined).
  ArrayArg<float> float32(const char* key, size_t length) const { return array<float>(key, length, false); }
  ArrayArg<float> float32_optional(const char* key, size_t length) const { return array<float>(key, length, true); }
  ArrayArg<int32_t> int32(const char* key, size_t length) const { return array<int32_t>(key, length, false); }
  ArrayArg<uint8_t> uint8(const char* key, size_t length) const { return array<uint8_t>(key, length, false); }
  // Typed arrays of any length up to max_length.
  ArrayArg<uint8_t> uint8_any(const char* key, size_t max_length) const;
  ArrayArg<int32_t> int32_any(const char* key, size_t max_length) const;
  // A Float32Array of any length up to max_length.
  ArrayArg<float> float32_any(const char* key, size_t max_length) const;
  // A Float32Array option copied as float32 does or, with borrow, not copied: only for a call that
  // runs to completion on the calling thread (runs_on_calling_thread), so that no JS runs while its
  // storage is borrowed (every getter ran when the Args read the options).
  ArrayArg<float> float32_input(const char* key, size_t length, bool optional, bool borrow) const {
    return array_of<float>(get(key), key, length, optional, borrow);
  }
  // A Float32Array that the call updates in place (written back at completion: WriteBack): as
  // float32 / float32_any, and refused (TypeError) when a SharedArrayBuffer backs it, since the
  // write would race with other threads' writes.
  ArrayArg<float> float32_inplace(const char* key, size_t length) const;
  ArrayArg<float> float32_inplace_any(const char* key, size_t max_length) const;

  // The element count of a Uint8Array option (at most max_length), without copying it.
  size_t uint8_length(const char* key, size_t max_length) const;
  // Copies rows rows[0], rows[1], ... (row_length elements each) of a Uint8Array option into
  // native memory, in that order: the examples a job reads, not the whole data set. The array is
  // read again here, so each row is checked against its current length (RangeError).
  Buffer<uint8_t> uint8_rows(const char* key, size_t row_length, const std::vector<int32_t>& rows) const;

  // The `device` ("cpu" by default) and `threads` options, and the call's estimated `work`
  // (Target::work; a network's calls take the main lane whatever their size). A CPU thread count the
  // system cannot start (check_threads, cpu_executor.h) is a RangeError naming threads.
  Target target(double work = std::numeric_limits<double>::infinity()) const;

  // Throws RangeError unless a*b (and a*b*c...) fits in an array length.
  size_t product(std::initializer_list<int64_t> dims, const char* what) const;

  // A required boolean.
  bool boolean(const char* key) const;

  // Whether the option was given (not undefined), and its raw value.
  bool has(const char* key) const { return !get(key).IsUndefined(); }
  Napi::Value value(const char* key) const { return get(key); }

  [[noreturn]] void type_error(const std::string& key, const std::string& message) const;
  [[noreturn]] void range_error(const std::string& key, const std::string& message) const;

 private:
  template <class T>
  ArrayArg<T> array(const char* key, size_t length, bool optional) const;
  template <class T>
  ArrayArg<T> array_of(Napi::Value v, const char* key, size_t length, bool optional, bool borrow) const;
  // Reads every enumerable string-keyed property of the options (own or inherited) once, in their
  // order (a getter runs then, once); throws TypeError naming the first one that is not in keys.
  void read(Napi::Object options, std::vector<const char*> keys);
  size_t index_of(const char* key) const;  // keys_.size() when not a key
  // The option's value as read; undefined when not given.
  Napi::Value get(const char* key) const;

  Napi::Env env_;
  std::string fn_;
  std::vector<const char*> keys_;
  std::vector<napi_value> values_;  // per key; null when not given
};

}  // namespace dendrite::bindings
