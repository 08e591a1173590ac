"""Fault injection and bad input: races, crashes, damaged caches, network faults."""
