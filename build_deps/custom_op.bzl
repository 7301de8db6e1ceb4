"""custom_op_library: a TensorFlow custom-op shared object built with TensorFlow's own flags.

TensorFlow's -std, -D_GLIBCXX_USE_CXX11_ABI and other compile flags reach every C++ action
through the `--cxxopt`s that configure.py writes; headers and the framework library come from
@local_config_tf (build_deps/tf_dependency/tf_configure.bzl).

CUDA (`python configure.py --cuda`, i.e. --define=using_cuda=true): `cuda_srcs` are plain .cu
files (plus .cuh/.h headers they include) that include no TensorFlow header. A genrule compiles
each .cu with $(CUDA_PATH)/bin/nvcc (configure.py's --define=CUDA_PATH) and copies
$(CUDA_PATH)/lib64/libcudart_static.a next to the
objects, so the CUDA runtime is linked statically into the .so (no libcudart.so at run time).
The C++ sources then see -DTFRA_WITH_CUDA. Without the define, cuda_srcs are ignored.
"""

load("@local_config_tf//:build_defs.bzl", "TF_CXX11_ABI_FLAG", "TF_CXX_STANDARD")

_NVCC_FLAGS = [
    "-std=" + TF_CXX_STANDARD,
    "-D_GLIBCXX_USE_CXX11_ABI=%d" % TF_CXX11_ABI_FLAG,
    "-O2",
    "-Xcompiler",
    "-fPIC",
    "-I.",  # workspace-relative includes, as for the C++ sources
    # A100 and H100/H200 machine code, PTX for newer GPUs (as the pip build:
    # build_deps/cuda_build.py).
    "-gencode",
    "arch=compute_80,code=sm_80",
    "-gencode",
    "'arch=compute_90,code=[sm_90,compute_90]'",  # quoted: [] is a shell glob
]

def _cuda_library(name, srcs, hdrs):
    """cc_library `name` of nvcc objects for the .cu files in `srcs`, plus static cudart."""
    cu_files = [src for src in srcs if src.endswith(".cu")]
    objects = ["%s/%s.pic.o" % (name, src[:-len(".cu")].replace("/", "_")) for src in cu_files]
    cudart = "%s/libcudart_static.a" % name
    commands = [
        "cp -f \"$(CUDA_PATH)/lib64/libcudart_static.a\" $(location %s)" % cudart,
    ] + [
        "\"$(CUDA_PATH)/bin/nvcc\" %s -c $(location %s) -o $(location %s)" %
        (" ".join(_NVCC_FLAGS), src, obj)
        for src, obj in zip(cu_files, objects)
    ]
    native.genrule(
        name = name + "_nvcc",
        srcs = srcs + hdrs,
        outs = objects + [cudart],
        cmd = " && ".join(commands),
        message = "Compiling CUDA sources of " + name,
        tags = ["manual"],  # only built through the select() in custom_op_library
    )
    # Two libraries so that the linker sees the nvcc objects before libcudart_static.a
    # (Bazel puts a library's own archives ahead of its objects).
    native.cc_library(
        name = name,
        srcs = objects,
        alwayslink = True,
        deps = [":%s_cudart" % name],
        tags = ["manual"],
    )
    native.cc_library(
        name = name + "_cudart",
        srcs = [cudart],
        linkopts = ["-ldl", "-lpthread", "-lrt"],  # needed by libcudart_static
        tags = ["manual"],
    )

def custom_op_library(name, srcs, cuda_srcs = [], cuda_cc_srcs = [], deps = [], copts = []):
    """Builds the TensorFlow custom-op shared object `name` (must end in .so).

    Args:
      name: output file name, e.g. "_cuckoo_hashtable_ops.so".
      srcs: C++ sources and headers (kernels, op registrations, TF-free core).
      cuda_srcs: .cu sources and their headers; compiled by nvcc only with
        --define=using_cuda=true, ignored otherwise.
      cuda_cc_srcs: C++ sources compiled into the library only with CUDA
        (they call into the nvcc objects).
      deps: further cc_library dependencies.
      copts: extra C++ compile options.
    """
    if not name.endswith(".so"):
        fail("custom_op_library name must end in .so, got %r" % name)
    cuda_deps = []
    if cuda_srcs:
        cuda_library = name[:-len(".so")] + "_cuda"
        _cuda_library(
            name = cuda_library,
            srcs = cuda_srcs,
            hdrs = [src for src in srcs if src.endswith(".h")],
        )
        cuda_deps = [":" + cuda_library]

    native.cc_binary(
        name = name,
        srcs = srcs + select({
            "//build_deps:with_cuda": cuda_cc_srcs + [s for s in cuda_srcs if s.endswith(".h")],
            "//conditions:default": [],
        }),
        copts = copts + select({
            "//build_deps:with_cuda": ["-DTFRA_WITH_CUDA"],
            "//conditions:default": [],
        }),
        linkshared = True,
        deps = deps + [
            "@local_config_tf//:libtensorflow_framework",
            "@local_config_tf//:tf_header_lib",
        ] + select({
            "//build_deps:with_cuda": cuda_deps,
            "//conditions:default": [],
        }),
    )
