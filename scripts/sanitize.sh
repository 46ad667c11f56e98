#!/usr/bin/env bash
# Builds the native core with AddressSanitizer + UndefinedBehaviorSanitizer (into build-sanitize/,
# CPU backend only: the CUDA runtime and ASan do not mix) and runs under them the native test
# program, its build against the CUDA emulator (the CUDA kernels on the CPU), a quick pass of the
# native bench program and the ava suite. Extra arguments go to ava
# (e.g. dist/test/linalg.test.js).
set -euo pipefail
cd "$(dirname "$0")/.."

DENDRITE_SANITIZE=1 DENDRITE_CUDA=OFF node scripts/build-addon.js
npx tsc -p tsconfig.json

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# The native test program is fully instrumented: leaks are reported too.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 build-sanitize/dendrite_native_test
# The CUDA backend in the CUDA emulator: a kernel that reads or writes past a device allocation
# is reported here. The self-test's expected launch errors print "cuda_emu: ..." lines. npm test
# runs the emulated test with threads shuffled; here they run in reverse, a second schedule.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 build-sanitize/dendrite_cuda_emu_selftest
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 DENDRITE_CUDA_EMU_SCHEDULE=reverse build-sanitize/dendrite_native_test_cuda_emu
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 build-sanitize/dendrite_native_bench --quick --device cpu

# Node itself is not instrumented, so the sanitizer runtimes are preloaded. Leak checking is off
# there: at exit it would report V8's own allocations, not ours (the native test covers leaks).
# V8 handles some SEGVs itself (WebAssembly traps), so ASan must let it. The addon's path is absolute:
# tests start CLI processes in other folders (a relative one made every trial of such a study fail).
preload="$(g++ -print-file-name=libasan.so):$(g++ -print-file-name=libubsan.so)"
LD_PRELOAD="$preload" \
ASAN_OPTIONS=detect_leaks=0:allow_user_segv_handler=1:handle_segv=0:abort_on_error=1 \
DENDRITE_ADDON="$PWD/build-sanitize/Debug/dendrite.node" \
DENDRITE_SKIP_NATIVE_TEST=1 \
  node scripts/run-tests.js "$@"
