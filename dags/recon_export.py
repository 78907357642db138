"""
### Workbook export (`recon_export`), an Airflow DAG

Runs whenever `recon_nightly` or `recon_intraday` publishes a run (it is scheduled on the asset
`recon://outputs`, which their `reconcile` task emits): copies that run's workbook
`outputs/<date>/recon_<date>.xlsx` to the export folder.

* **Reads**: the asset event (its business date) and the published workbook in the workspace (`RECON_HOME`).
* **Writes**: `RECON_EXPORT_DIR/recon_<date>.xlsx` (default `<RECON_HOME>/exports`).
* **Re-runs are safe**: the copy is written under a temporary name and renamed over the previous one.
"""

from pipelines.run.dag_factory import build_export

dag = build_export("recon_export", __doc__)
