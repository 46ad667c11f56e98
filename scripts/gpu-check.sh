#!/usr/bin/env bash
# The GPU session's one script, for a machine with nvcc, CMake and a GPU but no Node: builds the
# native core with the CUDA backend (plain CMake, no cmake-js, so no addon), runs the native test
# program (every CUDA kernel and the segregated network against the CPU) and the native bench
# program (throughput on the CPU and the GPU). Output goes to stdout and to gpu-check.log (with
# the build's own log, build.log) in $OUT when set (the device tool's result folder), else in a
# temporary folder that the first line names.
#
#   [CUDA_ARCHS=90] bash scripts/gpu-check.sh [bench arguments, e.g. --quick]
set -uo pipefail
cd "$(dirname "$0")/.."
arch="${CUDA_ARCHS:-90}"
dir="${OUT:-$(mktemp -d)}"
log="$dir/gpu-check.log"
build_log="$dir/build.log"
echo "logs: $log, $build_log"
{
  echo "== $(date -u) on $(hostname)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true
  echo "== configure and build (CUDA architectures $arch)"
  generator=""; command -v ninja >/dev/null && generator="Ninja"
  cmake -S . -B build-gpu ${generator:+-G "$generator"} -DCMAKE_BUILD_TYPE=Release -DDENDRITE_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="$arch" >"$build_log" 2>&1 &&
    cmake --build build-gpu --parallel "$(nproc)" --target dendrite_native_test dendrite_native_bench \
      >>"$build_log" 2>&1 ||
    { tail -n 40 "$build_log"; echo "build failed"; exit 1; }
  grep -iE "warning" "$build_log" | head -n 20
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
