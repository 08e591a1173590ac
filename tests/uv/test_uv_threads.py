"""uv is located once per process, safely from many threads (``lazyext warm``).

Found by the benchmarks: ``uv.find_uv_bin()`` reads ``sysconfig``, whose first
``get_config_var`` races on 3.11, so parallel installs failed with
``TypeError: can only concatenate str (not "NoneType") to str``.
"""

from __future__ import annotations

from support import run_python

CHILD = """
    import sys, threading, uv
    from lazyext._uv import command as _installer

    calls = []
    real = uv.find_uv_bin

    def counting():
        calls.append(1)
        return real()

    uv.find_uv_bin = counting
    _installer._beside_interpreter = lambda: None  # take the uv package's (sysconfig) path
    assert "sysconfig" not in sys.modules or not sys.modules["sysconfig"]._CONFIG_VARS
    barrier = threading.Barrier(16)
    found, errors = [], []

    def one():
        barrier.wait()
        try:
            found.append(_installer.uv_binary())
        except BaseException as error:
            errors.append(repr(error))

    threads = [threading.Thread(target=one) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(len(calls), len(set(found)), len(found), errors)
"""


def test_uv_binary_is_found_once_from_many_threads() -> None:
    for _ in range(3):  # each child starts with sysconfig uninitialized
        result = run_python(CHILD)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split(None, 3) == ["1", "1", "16", "[]\n"]
