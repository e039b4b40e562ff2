-- The named RFM map: all 125 codes, exactly one segment each, editable.

SELECT count(*) AS codes, count(DISTINCT (r, f, m)) AS distinct_codes FROM segment.rfm_segment_map;

-- segment sizes of DESIGN.md's map
SELECT segment, count(*) AS codes FROM segment.rfm_segment_map GROUP BY segment ORDER BY segment;

-- no gaps: every combination of 1..5 has a name
SELECT count(*) AS unnamed
FROM generate_series(1, 5) AS r, generate_series(1, 5) AS f, generate_series(1, 5) AS m
WHERE segment.rfm_segment(r, f, m) = 'Other';

-- spot checks, one or two codes per segment
SELECT code, segment.rfm_segment(substr(code, 1, 1)::int, substr(code, 2, 1)::int, substr(code, 3, 1)::int)
FROM unnest(ARRAY['555', '445', '543', '335', '553', '323', '512', '311', '525', '313', '535', '324',
                  '331', '213', '255', '124', '155', '113', '332', '211', '111', '151']) AS code;

-- NULL scores give NULL (the function is strict)
SELECT segment.rfm_segment(NULL, 5, 5) IS NULL AS null_r;

-- edits: a code left out maps to 'Other', a renamed segment is seen by the next query
BEGIN;
DELETE FROM segment.rfm_segment_map WHERE (r, f, m) = (5, 5, 5);
UPDATE segment.rfm_segment_map SET segment = 'Big Spenders' WHERE (r, f, m) = (5, 5, 4);
SELECT segment.rfm_segment(5, 5, 5) AS removed, segment.rfm_segment(5, 5, 4) AS renamed,
       segment.rfm_segment(5, 4, 4) AS untouched;
ROLLBACK;
SELECT segment.rfm_segment(5, 5, 5) AS restored;

-- the key forbids a code twice, the checks a score outside 1..5 or an empty name
INSERT INTO segment.rfm_segment_map VALUES (5, 5, 5, 'Duplicate');
INSERT INTO segment.rfm_segment_map VALUES (6, 1, 1, 'Too High');
INSERT INTO segment.rfm_segment_map VALUES (1, 1, 0, 'Too Low');
UPDATE segment.rfm_segment_map SET segment = '' WHERE (r, f, m) = (1, 1, 1);
SELECT count(*) AS codes, count(*) FILTER (WHERE segment = 'Champions') AS champions FROM segment.rfm_segment_map;

-- every code in one query: each segment gets 100 rows per code it owns
SELECT segment.rfm_segment(1 + i % 5, 1 + (i / 5) % 5, 1 + (i / 25) % 5) AS segment, count(*)
FROM generate_series(0, 12499) AS i GROUP BY 1 ORDER BY 1;

-- parallel workers read the map too (forced parallel plan over a table)
CREATE TABLE codes AS
SELECT 1 + i % 5 AS r, 1 + (i / 5) % 5 AS f, 1 + (i / 25) % 5 AS m FROM generate_series(0, 124999) AS i;
ANALYZE codes;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
SELECT segment.rfm_segment(r, f, m), count(*) FROM codes GROUP BY 1;
SELECT segment.rfm_segment(r, f, m) AS segment, count(*) FROM codes GROUP BY 1 ORDER BY 1;
RESET ALL;
DROP TABLE codes;
