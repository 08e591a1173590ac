"""Reports: what ``status``, ``verify`` and ``doctor`` say, for the CLI and the web API.

Below both, so that the command line and the web API show the same rows.
"""
