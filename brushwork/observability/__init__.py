"""Metrics, tracing and the event follower that feeds them."""
