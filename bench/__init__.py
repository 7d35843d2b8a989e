"""fnn's benchmark suite: the same train steps in fnn and its peers, timed in one process (see README.md)."""
