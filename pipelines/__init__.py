"""Payment reconciliation and clearing pipeline.

Stages: ingest -> formats (parse) -> validate -> staging -> match -> breaks/clearing -> publish.
Every stage is a plain function callable from Python, the ``recon`` CLI and the Airflow DAGs.
"""
