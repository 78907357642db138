-- Working tables of one run: the rows of the staged files the run takes ($taken, parallel to $files; see
-- run/intake.py), plus the rows of earlier runs that are still open (table carried). The item id is derived from the row's
-- identity (table, position of its file in the sorted file list, line number): unique across tables,
-- needs no sort, and is the same in every run over the same files. File ids and channels are held as the
-- run's enumerations (reconcile._define_names).
CREATE OR REPLACE TABLE {table} AS
SELECT (CAST($table_index AS BIGINT) << 56) + (CAST(f.file_index AS BIGINT) << 32) + s.line_no AS item_id,
  s.* EXCLUDE (filename) REPLACE (CAST(s.file_id AS recon_file_id) AS file_id, CAST(s.channel AS recon_channel) AS channel)
FROM read_parquet($files, filename = true) AS s
JOIN (SELECT unnest($files) AS filename, generate_subscripts($files, 1) AS file_index, unnest($taken) AS taken) AS f
  ON f.filename = s.filename
WHERE f.taken
   OR EXISTS (SELECT 1 FROM carried AS c
              WHERE c.item_table = $table_name AND c.file_id = s.file_id AND c.line_no = s.line_no);
