"""Running a business date: the stages as plain functions for the CLI and the DAGs (``stages``), the
normalisation worker processes, reconciliation as a list of steps (``reconcile``), what a run takes in
(``intake``: the time model) and whether its day is complete (``completeness``), its invariants
(``invariants``) and summary (``summary``), the workspace lock (``lock``), the checks and repairs before a run
(``integrity``), rebuilding staging or the catalog (``repair``), and the DAG shapes (``dag_factory``).

Guarantees: the CLI and the Airflow DAGs call the same functions and publish the same bytes; a run fails,
publishing nothing, when an invariant does not hold; a crash at any point leaves the old state or the new
one (one catalog transaction is the commit point; the switch of ``outputs/<date>`` after it is completed by
the next run).
"""
