"""Shared and in-process state that is not the store: failure counters, invalidation, caches."""
