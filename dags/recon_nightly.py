"""
### Nightly reconciliation (`recon_nightly`)

Reconciles one business date end to end: pulls every channel's new files (PSP reports, bank statements,
orders extract, FX rates) into the landing area, parses and validates them into staging Parquet, matches
orders against PSP lines and PSP payouts against bank credits with the rules in `rules/matching`, carries
open breaks forward from the previous date, and publishes breaks, matches, net positions, fund
verification, `summary.json` and `report.html` to `outputs/<business_date>/`.

* **Reads**: the channels declared in `rules/channels` (folder `RECON_RULES`), the catalog and staging in
  the workspace (`RECON_HOME`); SFTP and S3 credentials from Airflow Connections.
* **Writes**: landing, staging, quarantine and outputs in the workspace; the catalog (one task at a time).
* **Params**: `business_date` (a date, picked in the trigger form; default: the day before the run),
  `channels` (ids to ingest and normalise; empty: all; an unknown id fails the run at once),
  `renormalise_quarantined` (also re-normalise files quarantined earlier, once their channel is fixed),
  `mode` (nightly, rerun), `cascade` (also re-run every later date already run). The workspace and rules come
  from the deployment (Variables `recon_home` / `recon_rules`, else `RECON_HOME` / `RECON_RULES`).
* **Operations**: permanent errors fail at once, transient ones are retried with backoff; every task has an
  execution timeout; the reconciliation is four tasks, `match` → `lifecycle` → `clearing` → `publish`, each
  resuming from the checkpoint of the one before (a retry redoes only its own step); the writing tasks share
  the one-slot pool `recon_workspace`; each published run emits
  an event on the asset `recon://outputs` (`recon_export` runs on it).
* **Alerts** (e-mail through the SMTP Connection `recon_alerts_smtp`; recipients in its extra `to` or the
  Variable `recon_alert_to`): a failed task and an incomplete day (the missing expected files); a date not
  published by the local time `RECON_DEADLINE` comes from `recon_deadline`. No Connection: a warning, no mail.
* **Re-runs are safe**: files are content-addressed (the same bytes are a recorded no-op), staging is
  written per file and partition, and the outputs of the date are replaced atomically, never appended.
  Trigger with `{"business_date": "2026-11-26", "mode": "rerun", "cascade": true}` to recompute a date
  and everything that depends on it.
"""

from pipelines.run.dag_factory import build

dag = build("recon_nightly", "30 3 * * *", "nightly", __doc__, day_offset=1)
