"""Benchmarks, outside the runtime package: each generates its own data and prints one JSON line.

``python -m bench.run --rows N`` (the whole pipeline, ``make bench``), ``python -m bench.match --rows N``
(matching against bare joins), ``python -m bench.formats --rows N`` (rows/s per file format).
"""
