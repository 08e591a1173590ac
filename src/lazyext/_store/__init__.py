"""The store: the content-addressed cache on disk and the one way into it.

Entries (one per locked distribution, in generations), read-only layers, key locks
and leases, failure memory, get-or-make (:mod:`.flight`), the install of a closure
with its verification against the wheels' RECORD files, gc, bytecode. It knows
nothing of environments: what it installs are pins (:class:`.install.Pin`).
"""
