"""Worker-pool peers: none yet. The kernel is the lab's own work; libraries that drain a log
with a pool (the pool's peers) come with the pool's cases."""

PEERS: dict = {}
