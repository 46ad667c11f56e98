// Built instead of the CUDA backend when the addon is compiled without CUDA.
#include "../common/backend.h"
#include "../common/devices.h"
#include "../common/error.h"
#include "../common/segregated.h"

namespace dendrite {

CudaInfo cuda_info() {
  CudaInfo info;
  info.compiled = false;
  info.unavailable = "CUDA support was not compiled in (rebuild with nvcc on the PATH, or DENDRITE_CUDA=ON)";
  return info;
}

std::unique_ptr<Backend> make_cuda_backend(int) {
  fail(ErrorKind::DeviceUnavailable, cuda_info().unavailable);
}

namespace seg {
std::unique_ptr<Network> make_cuda_network(const Config&, int) {
  fail(ErrorKind::DeviceUnavailable, "segregated network: " + cuda_info().unavailable);
}
}  // namespace seg

}  // namespace dendrite
