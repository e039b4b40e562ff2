// (d) The same RFM in DuckDB, on the same orders exported as CSV.
// Usage: node duckdb_rfm.mjs <orders.csv> <as_of> <runs>
// Prints "load_ms <ms>", one "run_ms <ms>" per run, and "peak_rss_kb <kB>".
import { DuckDBInstance } from '@duckdb/node-api';

const [csv, asOf, runs] = process.argv.slice(2);
const instance = await DuckDBInstance.create(':memory:');
const db = await instance.connect();

let t0 = performance.now();
await db.run(`CREATE TABLE orders AS SELECT * FROM read_csv('${csv}', header = true,
  columns = {'order_id': 'BIGINT', 'customer_id': 'BIGINT', 'ordered_at': 'TIMESTAMPTZ', 'amount': 'DECIMAL(12,2)'})`);
console.log(`load_ms ${(performance.now() - t0).toFixed(1)}`);

// Exact quantile scores with DuckDB's window functions: the rank formula of DESIGN.md.
const query = `
WITH facts AS (
    SELECT customer_id,
           date_diff('second', max(ordered_at) FILTER (WHERE amount > 0), TIMESTAMPTZ '${asOf}') / 86400.0 AS recency_days,
           count(*) FILTER (WHERE amount > 0) AS frequency,
           sum(amount) AS monetary
    FROM orders WHERE ordered_at <= TIMESTAMPTZ '${asOf}'
    GROUP BY customer_id
), scored AS (
    SELECT *,
           1 + floor(5 * (rank() OVER (ORDER BY -recency_days) - 1) / count(*) OVER ()) AS r_score,
           1 + floor(5 * (rank() OVER (ORDER BY frequency) - 1) / count(*) OVER ()) AS f_score,
           1 + floor(5 * (rank() OVER (ORDER BY monetary) - 1) / count(*) OVER ()) AS m_score
    FROM facts
)
SELECT count(*) AS n, sum(r_score + f_score + m_score) AS checksum FROM scored`;

for (let i = 0; i < Number(runs); i++) {
  t0 = performance.now();
  const reader = await db.runAndReadAll(query);
  const ms = performance.now() - t0;
  console.log(`run_ms ${ms.toFixed(1)} rows ${reader.getRows()[0][0]}`);
}
console.log(`peak_rss_kb ${process.resourceUsage().maxRSS}`);
