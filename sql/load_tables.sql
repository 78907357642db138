-- Working tables of one run: canonical rows of the business date, each with a run-local item id.
-- {source} is read_parquet([...]) over the staging partitions of the date, or an empty typed table.
CREATE OR REPLACE TABLE {table} AS
SELECT row_number() OVER (ORDER BY file_id, line_no) AS item_id, *
FROM {source};
