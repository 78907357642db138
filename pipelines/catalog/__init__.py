"""The catalog: small state (file registry, deliveries, ingest events, file statuses, runs, open items,
resolutions), an embedded DuckDB file by default, a PostgreSQL database when ``RECON_CATALOG_URL`` names one
(``store.open_catalog``; ``backends``).

Guarantees: a single task owns every catalog write (a DuckDB file admits one writing process); per-channel
tasks only read it and return their records. A run's catalog rows are committed in one transaction, on
either backend, with the same results. What cannot be recomputed from landing and the outputs is also
journaled, append-only, before it is written (``journal``), so a lost catalog can be rebuilt.
"""
