"""Clients of the upstream APIs, and the machinery they share (tokens, quota, retries)."""
