"""Payment reconciliation and clearing pipeline.

One folder per stage, in the order a run goes through them: ``ingest`` -> ``formats`` (parse) -> ``validate``
(contracts, staging, quarantine) -> ``match`` -> ``breaks`` and ``clearing`` -> ``publish``; ``catalog`` keeps
the small state between runs, ``core`` what every stage shares, ``run`` the orchestration of a business date
and ``cli`` the ``recon`` command. Every stage is a plain function callable from Python, the ``recon`` CLI and
the Airflow DAGs.
"""
