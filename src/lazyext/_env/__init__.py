"""The environment: the enabled extensions of a config resolved together, and the host.

Joint resolution (:mod:`.resolve`, with :mod:`.explain` and :mod:`.graph`), the PEP 751
lock file (:mod:`.lockfile`), the stored environment (:mod:`.stored`), what the host
already serves (:mod:`.host`), and provisioning (:mod:`.provision`): from a config to
an extension's installed closure, through the store.
"""
