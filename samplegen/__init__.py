"""Generators of the sample data, outside the runtime package.

``python -m samplegen.day`` writes the sample business day of ``data_samples/`` (and, for the benchmark, a
day of any size); ``python -m samplegen.scenario`` writes the four-day scenario of ``data_samples/scenario``.
"""
