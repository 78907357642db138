"""Publish: a run's outputs (Parquet, CSV, summary, HTML report) in ``outputs/<date>/``, optionally on S3.

Guarantees: a reader sees either the previous complete publication or the new one, never a mix (local:
one atomic rename; S3: each publication a version whose completion marker follows its objects, then the
date's pointer to the newest complete version).
"""
