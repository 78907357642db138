"""Ingest: pull each new file of a channel, exactly once, into the content-addressed landing area.

``transports/`` reads a channel's source (local folder, SFTP with pinned host keys, S3); ``landing`` copies
each new file to ``landing/<channel>/<sha256[:2]>/<sha256>`` and returns its records for the catalog.

Guarantees: a file is the SHA-256 of its bytes; the same bytes delivered again are a recorded no-op; a new
content under an already-ingested name is quarantined and reported, never overwrites; a partial transfer
never lands.
"""
