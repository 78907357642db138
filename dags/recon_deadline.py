"""
### Deadline check (`recon_deadline`)

Every day at the local time `RECON_DEADLINE` (`"HH:MM Area/City"`, default `08:00 Europe/Amsterdam`, read when
this file is parsed), checks that the business date before has a published run (`outputs/<date>/summary.json`).
When it has none (the nightly run failed, is still running, or never started), it sends the `deadline` alert
(e-mail through the SMTP Connection `recon_alerts_smtp`, as the other alerts) and fails, so the miss shows in
the Airflow UI. Trigger it with `{"business_date": "2026-11-26"}` to check a given date. It only reads the workspace.
"""

from pipelines.run.dag_factory import build_deadline

dag = build_deadline("recon_deadline", __doc__)
