"""Integrations with the engines people run fleets on: :mod:`.dask` and :mod:`.ray`.

Each imports its engine, so none is imported by ``import lazyext``; install the
matching extra (``lazyext[dask]``, ``lazyext[ray]``).
"""
