"""A bare DuckDB reconciliation of a generated day: the floor ``bench.run`` compares the pipeline with.

CSV to Parquet for both sides (orders; Adyen and Stripe lines as one PSP table), one exact-key full join
classifying matched / amount / currency / duplicate / missing on each side, a tolerance pass (same order id and
currency, amount within one minor unit) on what is left, breaks and net positions written to Parquet. One
DuckDB session with its default settings (spilling under the output folder); no validation, no lifecycle,
no audit trail.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

SQL = """
COPY (SELECT order_id, psp_reference, currency,
             CAST(round(TRY_CAST(amount AS DECIMAL(18,2)) * 100) AS BIGINT) AS amount_minor
      FROM read_csv($orders, header = true, all_varchar = true, quote = '"')
      WHERE direction = 'payin') TO '{out}/orders.parquet' (FORMAT parquet);
COPY (SELECT "Psp Reference" AS psp_reference, "Merchant Reference" AS order_id, "Gross Currency" AS currency,
             CAST(round(TRY_CAST("Gross Credit (GC)" AS DECIMAL(18,2)) * 100) AS BIGINT) AS amount_minor,
             CAST(round(TRY_CAST("Net Credit (NC)" AS DECIMAL(18,2)) * 100) AS BIGINT) AS net_minor,
             'adyen' AS channel
      FROM read_csv($adyen, header = true, all_varchar = true, quote = '"', union_by_name = true)
      WHERE "Type" = 'Settled'
      UNION ALL
      SELECT charge_id, "payment_metadata[order_id]", upper(currency),
             CAST(round(TRY_CAST(gross AS DECIMAL(18,2)) * 100) AS BIGINT),
             CAST(round(TRY_CAST(net AS DECIMAL(18,2)) * 100) AS BIGINT), 'stripe'
      FROM read_csv($stripe, header = true, all_varchar = true, quote = '"') WHERE reporting_category = 'charge')
  TO '{out}/psp.parquet' (FORMAT parquet);
CREATE TABLE o AS SELECT *, count(*) OVER (PARTITION BY psp_reference) AS n FROM '{out}/orders.parquet';
CREATE TABLE p AS SELECT *, count(*) OVER (PARTITION BY psp_reference) AS n FROM '{out}/psp.parquet';
CREATE TABLE j AS
SELECT o.order_id, o.currency AS o_currency, o.amount_minor AS o_amount, p.psp_reference,
       p.order_id AS p_order_id, p.currency AS p_currency, p.amount_minor AS p_amount, p.net_minor, p.channel,
       CASE WHEN p.psp_reference IS NULL THEN 'order_missing'
            WHEN o.order_id IS NULL THEN 'psp_missing'
            WHEN o.n > 1 OR p.n > 1 THEN 'duplicate'
            WHEN o.currency <> p.currency THEN 'currency'
            WHEN o.amount_minor <> p.amount_minor THEN 'amount'
            ELSE 'matched' END AS outcome
FROM o FULL JOIN p ON o.psp_reference = p.psp_reference;
CREATE TABLE tol AS
SELECT a.order_id, b.psp_reference FROM j a JOIN j b
  ON a.outcome = 'order_missing' AND b.outcome = 'psp_missing' AND a.order_id = b.p_order_id
 AND a.o_currency = b.p_currency AND abs(a.o_amount - b.p_amount) <= 1;
COPY (SELECT * FROM j WHERE outcome <> 'matched'
        AND order_id NOT IN (SELECT order_id FROM tol WHERE order_id IS NOT NULL)
        AND coalesce(psp_reference, '') NOT IN (SELECT psp_reference FROM tol))
  TO '{out}/breaks.parquet' (FORMAT parquet);
COPY (SELECT channel, p_currency AS currency, sum(net_minor) AS net_minor, count(*) AS lines
      FROM j WHERE p_currency IS NOT NULL GROUP BY ALL ORDER BY ALL) TO '{out}/positions.parquet' (FORMAT parquet);
"""


def run_floor(data_dir: Path, out_dir: Path, files: dict[str, list[str]] | None = None) -> float:
    """Seconds the bare run takes on the day generated in ``data_dir`` (or on ``files``: the orders, Adyen and
    Stripe files by those names)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = files or {
        "orders": sorted(str(p) for p in (data_dir / "orders").glob("*.csv")),
        "adyen": sorted(str(p) for p in (data_dir / "adyen").glob("*.csv")),
        "stripe": sorted(str(p) for p in (data_dir / "stripe").glob("*.csv")),
    }
    con = duckdb.connect(config={"temp_directory": str(out_dir / "spill")})  # not the working directory's .tmp
    start = time.perf_counter()
    for statement in SQL.replace("{out}", str(out_dir)).split(";\n"):
        if statement.strip():
            params = {k: v for k, v in files.items() if f"${k}" in statement}
            con.execute(statement, params)
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed
