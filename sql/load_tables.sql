-- Working tables of one run: the rows of the staged files the run takes ($taken, parallel to $files; see
-- run/intake.py), plus the rows of earlier runs that are still open (table carried). The item id is derived from the row's
-- identity (table, position of its file in the sorted file list, line number): unique across tables,
-- needs no sort, and is the same in every run over the same files. File ids and channels are held as the
-- run's enumerations (match/load.py define_names). {columns} is every column of the staged files with file ids
-- and channels as enumerations; when some files were staged under an older contract (a column added since),
-- it names the canonical columns one by one, each absent one filled as match/load.py ADDED_COLUMNS says, and
-- {options} reads the files by column name.
CREATE OR REPLACE TABLE {table} AS
SELECT (CAST($table_index AS BIGINT) << 56) + (CAST(f.file_index AS BIGINT) << 32) + s.line_no AS item_id,
  {columns}
FROM read_parquet($files, {options}) AS s
JOIN (SELECT unnest($files) AS filename, generate_subscripts($files, 1) AS file_index, unnest($taken) AS taken) AS f
  ON f.filename = s.filename
WHERE f.taken
   OR EXISTS (SELECT 1 FROM carried AS c
              WHERE c.item_table = $table_name AND c.file_id = s.file_id AND c.line_no = s.line_no);
