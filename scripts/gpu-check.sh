#!/usr/bin/env bash
# The GPU session's one script, for a machine with nvcc, CMake and a GPU but no Node: builds the
# native core with the CUDA backend (plain CMake, no cmake-js, so no addon), runs the native test
# program (every CUDA kernel and the segregated network against the CPU) and the native bench
# program (throughput on the CPU and the GPU). Output goes to stdout and, when OUT is set (the
# device tool's result folder), to $OUT/gpu-check.log.
#
#   bash scripts/gpu-check.sh [CUDA architectures, default 90] [extra bench arguments...]
set -uo pipefail
cd "$(dirname "$0")/.."
arch="${1:-90}"
shift || true
log="${OUT:-$(mktemp -d)}/gpu-check.log"
{
  echo "== $(date -u) on $(hostname)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true
  echo "== configure and build (CUDA architectures $arch)"
  generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S . -B build-gpu "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DDENDRITE_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="$arch" >build-gpu.log 2>&1 &&
    cmake --build build-gpu --parallel --target dendrite_native_test dendrite_native_bench >>build-gpu.log 2>&1 ||
    { tail -n 40 build-gpu.log; echo "build failed"; exit 1; }
  grep -iE "warning" build-gpu.log | head -n 20
  echo "== native test"
  build-gpu/dendrite_native_test
  test_status=$?
  echo "== native bench"
  build-gpu/dendrite_native_bench "$@"
  bench_status=$?
  echo "== exit: test $test_status, bench $bench_status"
  [ "$test_status" -eq 0 ] && [ "$bench_status" -eq 0 ]
} 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
