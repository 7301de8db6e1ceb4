"""Offline stand-in for @rules_java//java:defs.bzl: re-exports Bazel 4's native Java rules.

Bazel 4.2.3's built-in packages (@bazel_tools//tools/jdk, http.bzl, jvm.bzl) load these names from
@rules_java; nothing else in rules_java is used. This project builds no Java.
"""

java_binary = native.java_binary
java_import = native.java_import
java_library = native.java_library
java_plugin = native.java_plugin
java_proto_library = native.java_proto_library
java_runtime = native.java_runtime
java_test = native.java_test
java_toolchain = native.java_toolchain
