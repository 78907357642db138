"""
### Intraday reconciliation (`recon_intraday`), an Airflow DAG

Every hour during the day: pulls the files that arrived since the last poll and reconciles today's
business date provisionally (mode `intraday`), so operations see breaks before the nightly run. The
nightly run of the same date later replaces these outputs; intraday runs never change earlier dates.

* **Reads / writes**: as `recon_nightly` (same stages, same workspace and rules).
* **Re-runs are safe**: every run of a date replaces that date's outputs atomically.
"""

from pipelines.run.dag_factory import build

dag = build("recon_intraday", "0 7-20 * * 1-5", "intraday", __doc__, day_offset=0)
