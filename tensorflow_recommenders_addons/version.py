"""Package version and the TensorFlow versions its binaries support.

This is the one place versions are pinned: the build, the loader and the
docs read them from here.
"""

__version__ = "0.1.0"

# The op libraries are compiled against one TensorFlow minor release and only
# load into that release (TF has no stable C++ ABI across minor versions).
SUPPORTED_TF_MAJOR_MINOR = "2.21"
TF_REQUIREMENT = "tensorflow>=2.21,<2.22"
