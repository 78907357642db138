"""Running a business date: the stages as plain functions for the CLI and the DAGs (``stages``), the
normalisation worker processes, reconciliation as a list of steps (``reconcile``), what a run takes in
(``intake``: the time model) and whether its day is complete (``completeness``), its invariants
(``invariants``) and summary (``summary``), the workspace lock (``lock``), and the DAG shapes (``dag_factory``).

Guarantees: the CLI and the Airflow DAGs call the same functions and publish the same bytes; a run fails,
publishing nothing, when an invariant does not hold.
"""
