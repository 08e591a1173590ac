"""Registries of extensions, and the edits of a config that ``lazyext add`` and
``lazyext remove`` make.

* :mod:`.catalog`: a registry's ``[[extensions]]`` entries, checked, and search;
* :mod:`.source`: reading a registry from a file, or from a URL cached with its ETag;
* :mod:`.edit`: the config file edited with its comments and layout kept;
* :mod:`.compat`: what an edit is checked against before it is written (a joint
  resolution with the host, a wheel for this interpreter) and the lock it updates.
"""
