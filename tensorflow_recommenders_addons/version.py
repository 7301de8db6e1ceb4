"""Package version and the TensorFlow versions its binaries support.

This is the one place versions are pinned: the build backend
(build_deps/build_backend.py: TensorFlow for an isolated build), setup.py
(the wheel's requirements), scripts/install.sh, the loader and the docs read
them from here. The file is plain Python with no imports, so build tools can
`exec` it without importing the package.
"""

__version__ = "0.1.0"

# The op libraries are compiled against one TensorFlow minor release and only
# load into that release (TF has no stable C++ ABI across minor versions).
TF_VERSION_RANGE = ">=2.21,<2.22"
SUPPORTED_TF_MAJOR_MINOR = "2.21"
TF_REQUIREMENT = "tensorflow" + TF_VERSION_RANGE
# tf_keras releases track TensorFlow's minor versions.
TF_KERAS_REQUIREMENT = "tf_keras" + TF_VERSION_RANGE
# The TensorFlow distribution to build against where none is installed:
# tensorflow-cpu on x86_64 (no CUDA wheels needed), tensorflow elsewhere.
BUILD_TF_REQUIREMENTS = (
    "tensorflow-cpu" + TF_VERSION_RANGE +
    "; platform_machine == 'x86_64' or platform_machine == 'AMD64'",
    "tensorflow" + TF_VERSION_RANGE +
    "; platform_machine != 'x86_64' and platform_machine != 'AMD64'",
)
