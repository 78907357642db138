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
-- Items still open (break or pending) at the end of a business date's run; the next date's run offers
-- them again. Replaced as a whole whenever that date is (re-)run.
CREATE TABLE IF NOT EXISTS open_items (
  as_of_date         DATE NOT NULL,
  item_table         VARCHAR NOT NULL,
  file_id            VARCHAR NOT NULL,
  line_no            BIGINT NOT NULL,
  item_business_date DATE NOT NULL,
  channel            VARCHAR NOT NULL,
  status             VARCHAR NOT NULL,   -- break | pending | batch (member of a payout batch still open)
  break_id           VARCHAR,
  used_in            VARCHAR             -- pairing|side|match id of the pairings it already matched in
);
-- The breaks of every run, one row per break and business date (replaced when the date is re-run).
CREATE TABLE IF NOT EXISTS break_log (
  as_of_date     DATE NOT NULL,
  break_id       VARCHAR NOT NULL,
  break_type     VARCHAR NOT NULL,
  channel        VARCHAR NOT NULL,
  item_ref       VARCHAR,
  amount_minor   BIGINT NOT NULL,
  currency       VARCHAR NOT NULL,
  status         VARCHAR NOT NULL,   -- open | resolved
  run_id         VARCHAR NOT NULL
);
-- Breaks of earlier dates closed by a later run (their items matched), one row per break.
CREATE TABLE IF NOT EXISTS break_closures (
  as_of_date   DATE NOT NULL,
  break_id     VARCHAR NOT NULL,
  run_id       VARCHAR NOT NULL,
  rule_id      VARCHAR,
  match_id     VARCHAR
);
-- Manual resolutions: an audit log that is only ever appended to.
CREATE TABLE IF NOT EXISTS resolutions (
  resolution_id  VARCHAR NOT NULL,
  break_id       VARCHAR NOT NULL,
  action         VARCHAR NOT NULL,   -- write_off | manual_match | accept | reopen
  note           VARCHAR NOT NULL,
  resolved_by    VARCHAR NOT NULL,
  recorded_at    TIMESTAMPTZ NOT NULL
);
-- Positions of every run (replaced when the date is re-run): the base of fund verification.
CREATE TABLE IF NOT EXISTS position_log (
  as_of_date     DATE NOT NULL,
  counterparty   VARCHAR NOT NULL,
  currency       VARCHAR NOT NULL,
  value_date     DATE NOT NULL,
  net_expected_minor BIGINT NOT NULL,
  received_minor BIGINT NOT NULL
);
-- Bank credits matched to payout batches in each run (replaced when the date is re-run).
CREATE TABLE IF NOT EXISTS receipt_log (
  as_of_date     DATE NOT NULL,
  counterparty   VARCHAR NOT NULL,
  currency       VARCHAR NOT NULL,
  value_date     DATE NOT NULL,
  received_minor BIGINT NOT NULL
);
-- Ingest registry: the identity last seen for each remote path, and every non-new ingest outcome.
CREATE TABLE IF NOT EXISTS remote_objects (
  channel      VARCHAR NOT NULL,
  source_path  VARCHAR NOT NULL,
  identity     VARCHAR NOT NULL,   -- size, mtime, ETag as listed
  file_id      VARCHAR NOT NULL,   -- SHA-256 of the bytes downloaded for that identity
  outcome      VARCHAR NOT NULL,   -- new | duplicate | replaced
  observed_at  TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (channel, source_path)
);
CREATE TABLE IF NOT EXISTS ingest_events (
  channel           VARCHAR NOT NULL,
  source_path       VARCHAR NOT NULL,
  outcome           VARCHAR NOT NULL,  -- pending | refused | quarantined | replaced
  file_id           VARCHAR NOT NULL,  -- '' when nothing was downloaded
  file_name         VARCHAR NOT NULL,
  reason            VARCHAR NOT NULL,
  previous_file_id  VARCHAR,
  size_bytes        BIGINT,
  quarantine_path   VARCHAR,
  first_seen        TIMESTAMPTZ NOT NULL,
  last_seen         TIMESTAMPTZ NOT NULL,
  times_seen        BIGINT NOT NULL,
  PRIMARY KEY (channel, source_path, outcome, file_id)
);
-- What each business date's run took in: one row per unit (a file's staged rows of one table and row date,
-- or a file's quarantined rows), replaced when the date is re-run. A unit is taken by exactly one run: the
-- first run of a date on or after its row date once it has been received (README, "Time model").
CREATE TABLE IF NOT EXISTS run_inputs (
  as_of_date   DATE NOT NULL,
  file_id      VARCHAR NOT NULL,
  channel      VARCHAR NOT NULL,
  item_table   VARCHAR NOT NULL,     -- canonical table, or 'quarantine'
  row_date     DATE NOT NULL,        -- the rows' own business date (a quarantine: the file's assigned date)
  rows         BIGINT NOT NULL,
  late_days    INTEGER               -- days after a run of its row date had already been published, else NULL
);
-- Where the run's outputs were published (outputs/.runs/<date>/<folder>): the catalog commit names the folder
-- before ``outputs/<date>`` is switched to it, so a run that finds them apart completes the switch.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS output_folder VARCHAR;
-- A file's own control checks as its parser performed them ("2 passed, 1 skipped (...)"; NULL: none reported).
ALTER TABLE file_status ADD COLUMN IF NOT EXISTS controls VARCHAR;
-- The metrics of every run (the ``metrics`` contract without its business date), replaced when the date is
-- re-run; the trend of a run's report reads the last runs before it.
CREATE TABLE IF NOT EXISTS metric_log (
  as_of_date     DATE NOT NULL,
  metric         VARCHAR NOT NULL,
  statistic      VARCHAR NOT NULL,
  unit           VARCHAR NOT NULL,
  group_by       VARCHAR NOT NULL,
  direction      VARCHAR,
  channel        VARCHAR,
  payment_method VARCHAR,
  country        VARCHAR,
  currency       VARCHAR,
  break_type     VARCHAR,
  rail           VARCHAR,
  numerator      BIGINT,
  denominator    BIGINT,
  value          DECIMAL(38,6),
  amount_minor   BIGINT
);
