"""Running a business date: the stages as plain functions for the CLI and the DAGs (``stages``), the
normalisation worker processes (``workers``), reconciliation as a list of steps (``reconcile``) with its
invariants (``invariants``) and summary (``summary``), and the DAG shapes (``dag_factory``).

Guarantees: the CLI and the Airflow DAGs call the same functions and publish the same bytes; a run fails,
publishing nothing, when an invariant does not hold.
"""
