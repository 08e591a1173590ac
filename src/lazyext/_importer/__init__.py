"""The importer: lazyext's ``sys.meta_path`` finders and the per-process state behind them.

The finders (:mod:`.finder`), the runtime of one activation (:mod:`.runtime`), the
spawn view that children inherit through ``sys.path`` (:mod:`.view`) and ``.pth``
processing (:mod:`.pth`). The last stage of an import, and the only one on the warm
path besides the settings.
"""
