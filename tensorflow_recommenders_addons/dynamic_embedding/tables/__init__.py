"""Table backends behind dynamic embeddings (CPU hash table; creators)."""
