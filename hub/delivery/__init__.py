"""Durable queued delivery: Redis Streams, one queue per receiving platform."""
