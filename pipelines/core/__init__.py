"""Foundations every stage shares, and nothing else: workspace and rules locations (``config``), money as
int64 minor units with ISO 4217 exponents (``money``), the canonical table contracts of ``schemas/``
(``schema``), SQL files loaded by name (``sqlfiles``), business-day calendars (``calendars``), channel
declarations (``channels``) and business dates parsed once at the edge (``dates``).

Guarantees: a float never touches money; every schema, DDL and suite comes from ``schemas/``; no module
here imports a stage.
"""
