-- Catalog: small state of the pipeline (file registry, deliveries, file processing, runs).
CREATE TABLE IF NOT EXISTS files (
  file_id       VARCHAR PRIMARY KEY,   -- SHA-256 of the bytes
  channel       VARCHAR NOT NULL,
  file_name     VARCHAR NOT NULL,
  source_path   VARCHAR NOT NULL,
  size_bytes    BIGINT NOT NULL,
  landing_path  VARCHAR NOT NULL,
  arrived_at    TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
  channel       VARCHAR NOT NULL,
  source_path   VARCHAR NOT NULL,
  file_id       VARCHAR NOT NULL,
  observed_at   TIMESTAMPTZ NOT NULL,
  outcome       VARCHAR NOT NULL      -- new | duplicate
);
CREATE TABLE IF NOT EXISTS file_status (
  file_id          VARCHAR PRIMARY KEY,
  channel          VARCHAR NOT NULL,
  format           VARCHAR NOT NULL,
  canonical_table  VARCHAR NOT NULL,
  status           VARCHAR NOT NULL,  -- staged | quarantined
  reason           VARCHAR,
  rows_in          BIGINT NOT NULL,
  rows_staged      BIGINT NOT NULL,
  rows_quarantined BIGINT NOT NULL,
  business_dates   VARCHAR[] NOT NULL,
  assigned_date    DATE NOT NULL,     -- date that reports the file's quarantined rows
  processed_at     TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  run_id         VARCHAR NOT NULL,
  business_date  DATE NOT NULL,
  mode           VARCHAR NOT NULL,
  rules_version  VARCHAR NOT NULL,
  status         VARCHAR NOT NULL,
  started_at     TIMESTAMPTZ NOT NULL,
  finished_at    TIMESTAMPTZ,
  summary        JSON
);
