-- The UCI Online Retail invoices (test/data/online_retail_invoices.csv, CC BY 4.0):
-- real RFM data scored through both paths, checked against plain SQL.

\getenv abs_srcdir PG_ABS_SRCDIR
\set csv :abs_srcdir '/test/data/online_retail_invoices.csv'
CREATE TABLE online_retail (invoice_no text, invoice_date date, customer_id int4, total_price numeric);
COPY online_retail FROM :'csv' WITH (FORMAT csv, HEADER);
SELECT count(*) AS invoices, count(DISTINCT customer_id) AS customers, round(sum(total_price), 2) AS revenue
FROM online_retail;

-- per-customer facts as of the day after the last invoice
CREATE TABLE retail_facts AS
SELECT customer_id,
       ('2011-12-10'::date - max(invoice_date))::float8 AS recency_days,
       count(DISTINCT invoice_no) FILTER (WHERE total_price > 0) AS frequency,
       round(sum(total_price), 2) AS monetary
FROM online_retail GROUP BY customer_id;

-- window function path and edges path give the same scores
CREATE TABLE retail_scores AS
SELECT customer_id, recency_days, frequency, monetary,
       segment.quantile_score(-recency_days, 5) OVER () AS r,
       segment.quantile_score(frequency, 5) OVER () AS f,
       segment.quantile_score(monetary, 5) OVER () AS m
FROM retail_facts;

SELECT count(*) FILTER (WHERE segment.score(-recency_days, re) <> r) AS r_mismatches,
       count(*) FILTER (WHERE segment.score(frequency, fe) <> f) AS f_mismatches,
       count(*) FILTER (WHERE segment.score(monetary, me) <> m) AS m_mismatches
FROM retail_scores,
     (SELECT segment.quantile_edges(-recency_days, 5) AS re, segment.quantile_edges(frequency, 5) AS fe,
             segment.quantile_edges(monetary, 5) AS me FROM retail_facts) AS e;

-- and the same as the plain SQL rank formula
SELECT count(*) AS sql_mismatches
FROM retail_scores AS s
JOIN (SELECT customer_id,
             1 + floor(5 * (rank() OVER (ORDER BY -recency_days) - 1)::numeric / count(*) OVER ()) AS r,
             1 + floor(5 * (rank() OVER (ORDER BY frequency) - 1)::numeric / count(*) OVER ()) AS f,
             1 + floor(5 * (rank() OVER (ORDER BY monetary) - 1)::numeric / count(*) OVER ()) AS m
      FROM retail_facts) AS q USING (customer_id)
WHERE (s.r, s.f, s.m) <> (q.r, q.f, q.m);

-- the edges: frequency is heavily tied (1,493 of 4,338 customers bought once),
-- so score 1 holds 34% of the customers, not 20%: ties are never split
SELECT segment.quantile_edges(-recency_days, 5) AS recency_edges,
       segment.quantile_edges(frequency, 5) AS frequency_edges,
       segment.quantile_edges(monetary, 5) AS monetary_edges
FROM retail_facts;
SELECT f, count(*) AS customers, min(frequency), max(frequency) FROM retail_scores GROUP BY f ORDER BY f;

-- known customers: 12346 bought once for 77,183.60 GBP on 2011-01-18;
-- 12347 ordered 7 times, last on 2011-12-07
SELECT customer_id, recency_days, frequency, monetary, r, f, m,
       segment.rfm_segment(r, f, m) AS segment
FROM retail_scores WHERE customer_id IN (12346, 12347, 12348, 18287) ORDER BY customer_id;

-- the named segments of the whole shop
SELECT segment.rfm_segment(r, f, m) AS segment, count(*) AS customers, round(sum(monetary)) AS revenue
FROM retail_scores GROUP BY 1 ORDER BY customers DESC, segment;

DROP TABLE online_retail, retail_facts, retail_scores;
