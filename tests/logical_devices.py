"""The suite's logical CPU devices, importable by name from any test.

tests/conftest.py splits the CPU into these three logical devices before
TensorFlow initializes, so sharded variables place one table per device.
Test modules import the list from here (`from logical_devices import
CPU_DEVICES`), not from `conftest`: with more than one conftest.py in the
tree, the module name `conftest` is ambiguous.
"""

CPU_DEVICES = ["/CPU:0", "/CPU:1", "/CPU:2"]
