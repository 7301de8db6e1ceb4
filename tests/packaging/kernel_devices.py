"""Prints, as one JSON line, the device types each GPU-capable op has kernels
for once the op library given as argv[1] is loaded:
  python tests/packaging/kernel_devices.py path/to/_cuckoo_hashtable_ops.so
Shared by the pip and Bazel CUDA build tests (tests/packaging).
"""

import json
import sys

import tensorflow as tf
# Private module: namespaced ops ("TFRA>...") have no public kernel listing.
from tensorflow.python.framework import kernels

GPU_OPS = ["TFRA>HashTableOfTensors", "TFRA>HashTableFind",
           "TFRA>HashTableInsert", "TFRA>HashTableAccum",
           "TFRA>HashTableExport", "TFRA>HashTableSize", "TFRA>Unique",
           "TFRA>SegmentSumRows", "TFRA>HashTableSaveToFileSystem",
           "TFRA>HashTableLoadFromFileSystem"]


def main():
  tf.load_op_library(sys.argv[1])
  print(json.dumps({op: sorted({k.device_type for k in
                                kernels.get_registered_kernels_for_op(op).kernel})
                    for op in GPU_OPS}))


if __name__ == "__main__":
  main()
