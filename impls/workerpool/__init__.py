"""A worker pool draining a real log (Kafka, Redis Streams) with backpressure, per-key order and
exactly-once effects in Redis (issue 8). Built in rooms of one idea each: `offsets` (what may be
committed), `flow` (backpressure), `lanes` (per-key order)."""
