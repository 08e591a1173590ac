"""``lazyext run``: a script with PEP 723 inline metadata, each import installing only
the closure it needs.

* :mod:`.script`: the ``# /// script`` block, read and checked;
* :mod:`.names`: the import names a locked distribution provides, from its wheel;
* :mod:`.prepare`: the script's config (the discovered one, the block, ``--with``),
  written to the cache once and found there by the next run;
* :mod:`.pending`: the first run starts at once while that config is prepared;
* :mod:`.execute`: the script as ``__main__`` in this process, exit status and signals
  as ``python SCRIPT`` has them.
"""
