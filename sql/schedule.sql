-- Schedules: next firing times checked by hand (cron fields, names, the
-- day-of-month/day-of-week rule, month ends, leap years, DST changes,
-- intervals), every bad schedule, and who may schedule what.
SET timezone = 'UTC';

-- cron fields, in UTC, after Tuesday 2026-03-10 10:07:30
SELECT s, segment.next_run(s, '2026-03-10 10:07:30+00', 'UTC') AS next
FROM (VALUES ('* * * * *'), ('*/15 * * * *'), ('5 * * * *'), ('0 9-17/4 * * *'), ('30 2 * * *'),
             ('0 0 * * mon'), ('0 0 * * 0'), ('0 0 * * 7'), ('0 12 1,15 * *'), ('0 0 1 jan *'),
             ('0 0 * jan-feb,dec *'), ('10,20 8 * * mon-fri'), ('5/20 * * * *'), ('0 0 * * SAT'),
             ('@hourly'), ('@daily'), ('@midnight'), ('@weekly'), ('@monthly'), ('@yearly'), ('@ANNUALLY'))
     AS t(s);

-- both day fields restricted: either one fires (the 13th, or a Friday)
SELECT segment.next_run('0 0 13 * fri', '2026-03-10 00:00+00', 'UTC') AS friday_or_13th_1,
       segment.next_run('0 0 13 * fri', '2026-03-13 00:00+00', 'UTC') AS friday_or_13th_2;

-- month ends and leap years: the next 31st skips February, the 29th of
-- February waits for 2028
SELECT segment.next_run('0 0 31 * *', '2026-01-31 00:00+00', 'UTC') AS next_31st,
       segment.next_run('0 0 30 * *', '2026-01-30 00:00+00', 'UTC') AS next_30th,
       segment.next_run('0 0 29 2 *', '2026-01-01 00:00+00', 'UTC') AS next_feb_29,
       segment.next_run('59 23 31 12 *', '2026-12-31 23:59+00', 'UTC') AS new_years_eve;

-- DST in Paris: clocks go forward on 2026-03-29 at 02:00 (to 03:00) and back
-- on 2026-10-25 at 03:00 (to 02:00)
SET timezone = 'Europe/Paris';
SELECT segment.next_run('0 9 * * *', '2026-03-28 12:00+01', 'Europe/Paris') AS nine_after_spring,
       segment.next_run('0 9 * * *', '2026-10-24 12:00+02', 'Europe/Paris') AS nine_after_autumn,
       segment.next_run('30 2 * * *', '2026-03-28 12:00+01', 'Europe/Paris') AS in_the_gap,
       segment.next_run('30 2 * * *', '2026-10-25 00:00+02', 'Europe/Paris') AS twice_fires_once;
-- the repeated hour fires once: after the first 02:30, the next is the next day
SELECT segment.next_run('30 2 * * *', segment.next_run('30 2 * * *', '2026-10-25 00:00+02', 'Europe/Paris'),
                        'Europe/Paris') AS after_twice;
-- hourly across the spring gap: 01:00, then 03:00 (02:00 does not exist)
SELECT segment.next_run('0 * * * *', '2026-03-29 01:00+01', 'Europe/Paris') AS hour_after_one;
SET timezone = 'UTC';

-- intervals: a fixed period after the given time (a day counts 24 hours)
SELECT s, segment.next_run(s, '2026-03-10 10:00:00+00') AS next
FROM (VALUES ('30 seconds'), ('1 second'), ('15 minutes'), ('1 hour'), ('1 day'), ('1 day 2 hours'), ('2 weeks'))
     AS t(s);

-- bad schedules: each rejected with the field and a valid example
\set VERBOSITY default
SELECT segment.next_run('61 * * * *');
SELECT segment.next_run('* 24 * * *');
SELECT segment.next_run('* * 0 * *');
SELECT segment.next_run('* * * 13 *');
SELECT segment.next_run('* * * * 8');
SELECT segment.next_run('* * *');
SELECT segment.next_run('* * * * * *');
SELECT segment.next_run('*/0 * * * *');
SELECT segment.next_run('5-2 * * * *');
SELECT segment.next_run('1,,2 * * * *');
SELECT segment.next_run('x * * * *');
SELECT segment.next_run('every day');
SELECT segment.next_run('@often');
SELECT segment.next_run('');
SELECT segment.next_run('0 seconds');
SELECT segment.next_run('-5 minutes');
SELECT segment.next_run('500 milliseconds');
SELECT segment.next_run('0 0 30 2 *');
SELECT segment.next_run('@daily', now(), 'Mars/Olympus');
\set VERBOSITY terse
SELECT segment.next_run(NULL), segment.next_run('@daily', NULL);

-- scheduling: a schedule far ahead (nothing runs during the test), paused,
-- resumed, replaced, unscheduled
SELECT relation, rows FROM segment.generate_demo_data('sched', customers => 200, seed => 3) WHERE relation LIKE '%orders';
SELECT segment.create_segmentation('yearly', 'sched.orders', 'customer_id', 'ordered_at', 'amount',
    clusters => 0, as_of => '2026-01-01') AS customers;
SELECT segment.schedule('yearly', '0 0 1 1 *') = segment.next_run('0 0 1 1 *') AS first_run_returned;
SELECT segmentation, owner, schedule, active, next_run_at > now() AS ahead, consecutive_failures, timeout
FROM segment.jobs;
SELECT segment.pause('yearly');
SELECT active, next_run_at FROM segment.jobs;
SELECT segment.resume('yearly') > now() AS resumed;
SELECT segment.schedule('yearly', '0 0 1 1 *', timeout => '10 minutes') IS NOT NULL AS replaced;
SELECT schedule, active, timeout FROM segment.jobs;
SELECT segment.unschedule('yearly');
SELECT schedule, active, next_run_at FROM segment.jobs;

-- bad input to the functions, nothing changed
\set VERBOSITY default
SELECT segment.schedule('nope', '@daily');
SELECT segment.schedule('yearly', 'every day');
SELECT segment.schedule('yearly', '@daily', timeout => '-1 minute');
SELECT segment.unschedule('yearly');
SELECT segment.pause('yearly');
SELECT segment.resume('yearly');
\set VERBOSITY terse
SELECT count(*) AS scheduled FROM segment.schedules WHERE schedule IS NOT NULL;

-- someone else's segmentation: they see no job and cannot schedule it
CREATE ROLE sched_stranger NOLOGIN;
SELECT segment.schedule('yearly', '0 0 1 1 *') IS NOT NULL AS scheduled;
SET ROLE sched_stranger;
SELECT count(*) AS jobs_seen FROM segment.jobs;
SELECT count(*) AS schedules_seen FROM segment.schedules;
\set VERBOSITY default
SELECT segment.schedule('yearly', '@daily');
SELECT segment.unschedule('yearly');
SELECT segment.pause('yearly');
UPDATE segment.schedules SET schedule = '1 second';
\set VERBOSITY terse
RESET ROLE;
-- even its owner cannot store a schedule the scheduler could not read
UPDATE segment.schedules SET schedule = '*/0 * * * *';
UPDATE segment.schedules SET schedule = '0 0 31 2 *';
SELECT schedule, active FROM segment.jobs;

-- progress: nothing runs now
SELECT count(*) AS running FROM segment.refresh_progress;

SELECT segment.drop_segmentation('yearly');
SELECT count(*) AS schedules_left FROM segment.schedules;
DROP SCHEMA sched CASCADE;
DROP ROLE sched_stranger;
