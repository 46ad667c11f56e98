# Rewrites a CUDA source for the CUDA emulator (cuda_runtime.h beside this file): every launch
# `kernel<<<config>>>(args)` becomes `::cuda_emu::Launch(config).run("kernel", kernel, args)`.
# Usage: cmake -DIN=file.cu -DOUT=file.cpp -P translate.cmake
file(READ "${IN}" text)
set(ws "[ \t\r\n]*")
# A kernel name, optionally with template arguments; the configuration holds no ';'.
set(launch "([A-Za-z_][A-Za-z0-9_:]*(<[^<>;]*>)?)${ws}<<<([^;]*)>>>${ws}\\(")
string(REGEX REPLACE "${launch}${ws}\\)" "::cuda_emu::Launch(\\3).run(\"\\1\", \\1)" text "${text}")
string(REGEX REPLACE "${launch}" "::cuda_emu::Launch(\\3).run(\"\\1\", \\1, " text "${text}")
if(text MATCHES "<<<|>>>")
  message(FATAL_ERROR "translate.cmake: a kernel launch in ${IN} was not rewritten")
endif()
# nvcc includes cuda_runtime.h before every .cu file; so does the emulated build.
file(WRITE "${OUT}.tmp" "// Generated from ${IN} by translate.cmake for the CUDA emulator. Do not edit.\n#include <cuda_runtime.h>\n#line 1 \"${IN}\"\n${text}")
file(RENAME "${OUT}.tmp" "${OUT}")
