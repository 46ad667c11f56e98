// Errors raised by the native library. The bindings translate them into JS errors;
// nothing below bindings/ knows about Node.
#pragma once

#include <stdexcept>
#include <string>

namespace dendrite {

enum class ErrorKind {
  InvalidArgument,    // a value of the wrong kind (JS TypeError)
  OutOfRange,         // a value outside its allowed range (JS RangeError)
  DeviceUnavailable,  // asked for a device that is not there
  OutOfMemory,
  Internal,           // a failure inside a backend (driver error, ...)
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }

 private:
  ErrorKind kind_;
};

[[noreturn]] inline void fail(ErrorKind kind, const std::string& message) { throw Error(kind, message); }

}  // namespace dendrite
