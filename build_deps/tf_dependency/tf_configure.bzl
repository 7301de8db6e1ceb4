"""Repository rule that exposes the installed TensorFlow as @local_config_tf.

It reads the locations that `python configure.py` wrote to .tf_configure.bazelrc (as
`--repo_env`), symlinks TensorFlow's header directory and framework library into the
repository, and writes:

  @local_config_tf//:tf_header_lib            headers, `-I include` like tf.sysconfig's -I flag
  @local_config_tf//:libtensorflow_framework  libtensorflow_framework.so.N to link against
  @local_config_tf//:build_defs.bzl           TF_CXX_STANDARD and TF_CXX11_ABI_FLAG for rules
                                              that do not go through Bazel's C++ toolchain (nvcc)
"""

_TF_HEADER_DIR = "TF_HEADER_DIR"
_TF_SHARED_LIBRARY_DIR = "TF_SHARED_LIBRARY_DIR"
_TF_SHARED_LIBRARY_NAME = "TF_SHARED_LIBRARY_NAME"
_TF_CXX11_ABI_FLAG = "TF_CXX11_ABI_FLAG"
_TF_CXX_STANDARD = "TF_CXX_STANDARD"

def _required_env(repository_ctx, name):
    value = repository_ctx.os.environ.get(name, "").strip()
    if not value:
        fail("%s is not set. Run `python configure.py` with the Python environment that has " % name +
             "TensorFlow installed; it writes .tf_configure.bazelrc, which .bazelrc imports.")
    return value

def _tf_configure_impl(repository_ctx):
    header_dir = _required_env(repository_ctx, _TF_HEADER_DIR)
    library_dir = _required_env(repository_ctx, _TF_SHARED_LIBRARY_DIR)
    library_name = _required_env(repository_ctx, _TF_SHARED_LIBRARY_NAME)
    cxx11_abi_flag = _required_env(repository_ctx, _TF_CXX11_ABI_FLAG)
    cxx_standard = _required_env(repository_ctx, _TF_CXX_STANDARD)

    library_path = repository_ctx.path(library_dir).get_child(library_name)
    if not library_path.exists:
        fail("%s not found; re-run `python configure.py`." % library_path)
    if not repository_ctx.path(header_dir).exists:
        fail("%s not found; re-run `python configure.py`." % header_dir)

    # Symlinks, not copies: TensorFlow's include tree is ~11k files / ~300 MB.
    repository_ctx.symlink(header_dir, "include")
    repository_ctx.symlink(library_path, library_name)
    repository_ctx.template(
        "BUILD",
        Label("//build_deps/tf_dependency:BUILD.tpl"),
        {"%{TF_SHARED_LIBRARY_NAME}": library_name},
    )
    repository_ctx.file(
        "build_defs.bzl",
        "\n".join([
            '"""TensorFlow build settings found by configure.py (generated)."""',
            "TF_CXX_STANDARD = %r" % cxx_standard,
            "TF_CXX11_ABI_FLAG = %d" % int(cxx11_abi_flag),
            "",
        ]),
    )

tf_configure = repository_rule(
    implementation = _tf_configure_impl,
    environ = [
        _TF_HEADER_DIR,
        _TF_SHARED_LIBRARY_DIR,
        _TF_SHARED_LIBRARY_NAME,
        _TF_CXX11_ABI_FLAG,
        _TF_CXX_STANDARD,
    ],
    local = True,
)
