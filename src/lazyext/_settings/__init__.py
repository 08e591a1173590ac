"""Settings: the config's records, its parsing and loading, keys and names, secrets.

The first stage of an import, and the bottom layer: everything else reads the
:class:`~lazyext._settings.config.Config` this stage produces.
"""
