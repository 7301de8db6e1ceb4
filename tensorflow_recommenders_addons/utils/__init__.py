"""Internal helpers: op-library loading and dtype checks."""
