-- A segmentation reads the times without a zone of its sources (timestamp,
-- date) in its own time_zone, whatever the refreshing session's TimeZone:
-- the same data builds the same table in every session and in the
-- scheduler.  Hand-computed on a boundary: an order at 10:00 on New Year's
-- Day (timestamp) is after as_of (midnight UTC) when read in UTC, and
-- before it when read in Pacific/Kiritimati (UTC+14).
SET TimeZone = 'UTC';
CREATE SCHEMA tz;
CREATE TABLE tz.orders (customer_id int4, ordered_at timestamp, amount numeric);
INSERT INTO tz.orders VALUES
    (1, '2025-12-31 20:00', 10),      -- 4 h before as_of in UTC, 18 h in Kiritimati
    (2, '2026-01-01 10:00', 20),      -- after as_of in UTC; 4 h before it in Kiritimati
    (3, '2025-12-01 00:00', 30),
    (3, '2025-12-15 12:00', 30);
INSERT INTO tz.orders SELECT 10 + i % 40, timestamp '2025-06-01' + i * interval '7 hours', i FROM generate_series(1, 600) AS i;

SELECT segment.create_segmentation('tz', 'tz.orders', 'customer_id', 'ordered_at', 'amount',
                                   clusters => 0, as_of => '2026-01-01 00:00+00', target_table => 'tz.segs');
SELECT time_zone FROM segment.segmentations WHERE name = 'tz';
SELECT customer_id, round(recency_days::numeric * 24, 2) AS recency_hours, frequency, monetary
FROM tz.segs WHERE customer_id IN (1, 2, 3) ORDER BY 1;
CREATE TABLE tz.in_utc AS SELECT to_jsonb(s) - 'refreshed_at' AS r FROM tz.segs AS s;

-- the same refresh from a session on the other side of the date line
SET TimeZone = 'Pacific/Kiritimati';
SELECT segment.refresh('tz');
-- the session's own setting is back after the refresh
SHOW TimeZone;
SET TimeZone = 'UTC';   -- (jsonb writes timestamptz in the session's zone)
SELECT count(*) AS differing_rows FROM (
    (SELECT to_jsonb(s) - 'refreshed_at' FROM tz.segs AS s EXCEPT ALL SELECT r FROM tz.in_utc)
    UNION ALL
    (SELECT r FROM tz.in_utc EXCEPT ALL SELECT to_jsonb(s) - 'refreshed_at' FROM tz.segs AS s)) AS d;

-- the segmentation's zone decides: in Kiritimati time customer 2 has ordered
UPDATE segment.segmentations SET time_zone = 'Pacific/Kiritimati' WHERE name = 'tz';
SELECT segment.refresh('tz');
SELECT customer_id, round(recency_days::numeric * 24, 2) AS recency_hours, frequency, monetary
FROM tz.segs WHERE customer_id IN (1, 2, 3) ORDER BY 1;

-- a new segmentation takes segment.timezone when set, else the session's zone
SET TimeZone = 'America/Denver';
SELECT segment.create_segmentation('tz2', 'tz.orders', 'customer_id', 'ordered_at', 'amount',
                                   clusters => 0, as_of => '2026-01-01 00:00+00', target_table => 'tz.segs2');
SELECT segment.create_segmentation('tz3', 'tz.orders', 'customer_id', 'ordered_at', 'amount',
                                   clusters => 0, as_of => '2026-01-01 00:00+00', target_table => 'tz.segs3',
                                   time_zone => 'Asia/Kolkata');
SELECT name, time_zone FROM segment.segmentations WHERE name LIKE 'tz%' ORDER BY name;
RESET TimeZone;

-- bad zones: refused, nothing changed or created
SELECT segment.create_segmentation('tz4', 'tz.orders', 'customer_id', 'ordered_at', 'amount',
                                   clusters => 0, target_table => 'tz.segs4', time_zone => 'Not/AZone');
SELECT to_regclass('tz.segs4') AS segs4, count(*) AS tz4_rows FROM segment.segmentations WHERE name = 'tz4';
UPDATE segment.segmentations SET time_zone = 'Mars/Olympus_Mons' WHERE name = 'tz';
UPDATE segment.segmentations SET time_zone = '' WHERE name = 'tz';
\set VERBOSITY terse
UPDATE segment.segmentations SET time_zone = NULL WHERE name = 'tz';
\set VERBOSITY default
SELECT time_zone FROM segment.segmentations WHERE name = 'tz';

SELECT segment.drop_segmentation(n) FROM unnest(ARRAY['tz', 'tz2', 'tz3']) AS n;
DROP SCHEMA tz CASCADE;
