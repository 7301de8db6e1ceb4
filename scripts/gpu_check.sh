#!/usr/bin/env bash
# The GPU check of the CUDA core in one run, for a GPU machine that has the
# CUDA toolkit and CuPy or PyTorch but no TensorFlow (the `device` tool's):
# builds cc/core/gpu with nvcc (no CMake needed), runs the host-reference
# tests of the table and the batch ops, the pybind11 module's tests (when
# pybind11 or PyTorch's bundled copy is importable), and the benchmark at
# issue 19's sizes (64 M slots, dims 8/32/64/128, load factor 0.5 and 1.0).
# Output goes to ${OUT:-build/gpu-check}; the exit status is the first
# failure's.
#
#   bash scripts/gpu_check.sh            # everything (about 5 minutes on an H100)
#   GPU_CHECK_QUICK=1 bash scripts/gpu_check.sh   # small benchmark
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-build/gpu-check}
mkdir -p "$out"
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
arch=(-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90)
status=0
step() { echo "== $*"; }

step "build ($("$nvcc" --version | tail -1))"
for f in gpu_hash_table gpu_batch; do
  "$nvcc" -std=c++17 -O3 -I. "${arch[@]}" -Xcompiler -fPIC \
    -c "cc/core/gpu/$f.cu" -o "$out/$f.o" &
done
wait
for main in tests/gpu_table_test tests/gpu_batch_test bench/gpu_table_bench; do
  "$nvcc" -std=c++17 -O3 -I. "${arch[@]}" -cudart static \
    "$out/gpu_hash_table.o" "$out/gpu_batch.o" "cc/core/gpu/$main.cu" \
    -o "$out/$(basename "$main")" || exit 1
done
pyinc=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['include'])")
pbinc=$(python3 -c "import os
try:
  import pybind11; print(pybind11.get_include())
except ImportError:
  import torch; print(os.path.join(os.path.dirname(torch.__file__), 'include'))" 2>/dev/null)
suffix=$(python3 -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
if [ -n "$pbinc" ]; then
  g++ -std=c++17 -O2 -fPIC -I. -I"$pyinc" -I"$pbinc" \
    -c cc/core/gpu/python/gpu_table_module.cc -o "$out/module.o" &&
  "$nvcc" "${arch[@]}" -shared -cudart static "$out/module.o" \
    "$out/gpu_hash_table.o" "$out/gpu_batch.o" -o "$out/tfra_gpu$suffix" ||
    { echo "the pybind11 module did not build"; status=1; }
fi
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi

step "table host-reference test"
"$out/gpu_table_test" || status=$((status ? status : $?))
step "batch ops host-reference test"
"$out/gpu_batch_test" || status=$((status ? status : $?))
if [ -f "$out/tfra_gpu$suffix" ]; then
  step "pybind11 module test"
  PYTHONPATH="$out" python3 cc/core/gpu/python/test_gpu_table_module.py ||
    status=$((status ? status : $?))
fi
step "benchmark"
if [ -n "${GPU_CHECK_QUICK:-}" ]; then
  "$out/gpu_table_bench" --capacity $((1 << 22)) --dims 8,64 --repeats 2
else
  "$out/gpu_table_bench" --capacity $((1 << 26))
fi | tee "$out/bench.txt" || status=$((status ? status : $?))
exit "$status"
