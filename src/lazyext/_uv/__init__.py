"""The only place that runs uv: its argv and environment, spawning, retries, timeouts.

Three commands, each in one module: ``uv pip install`` of locked distributions
(:mod:`.install`), ``uv pip compile`` (:mod:`.compile`) and ``uv cache clean``. All of
them go through one runner (:mod:`.run`): offline first where uv's cache may answer,
online attempts with backoff for transient failures, one wall-clock limit
(``install-timeout``) over all of them, the process group killed at the limit.
"""
