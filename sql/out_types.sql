-- The large published tables (matches, outcomes) repeat a few file ids and channels on millions of rows:
-- they are built with these enumerations (an integer each) and written back out as text.
DROP TYPE IF EXISTS recon_file_id;
DROP TYPE IF EXISTS recon_channel;
CREATE TYPE recon_file_id AS ENUM (
  SELECT DISTINCT file_id FROM (
    SELECT file_id FROM all_items UNION ALL SELECT file_id FROM fx_rates UNION ALL SELECT file_id FROM quarantine_rows
  ) WHERE file_id IS NOT NULL ORDER BY file_id
);
CREATE TYPE recon_channel AS ENUM (
  SELECT DISTINCT channel FROM all_items WHERE channel IS NOT NULL ORDER BY channel
);
