# The scheduler: interval jobs run and log in two databases, as their owner
# (also without LOGIN, never with more privilege); a non-owner cannot see or
# change a job; each fault -- lost privilege, dropped source, dropped owner,
# timeout, a run still running, more due jobs than workers, the job worker
# killed, the server stopped mid-run -- gives a clear run-log row, keeps the
# old segment table and leaves the scheduler up; DROP DATABASE and DROP
# EXTENSION are never blocked; a hot standby runs nothing.  Every wait polls
# with a deadline.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('sched');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'segment'
segment.naptime = 1
max_worker_processes = 20
restart_after_crash = on
});
$node->start;

# polls until the query returns true
sub wait_for
{
	my ($db, $query, $what) = @_;
	ok($node->poll_query_until($db, $query), $what);
}

$node->safe_psql('postgres', q{
	CREATE EXTENSION segment;
	SELECT segment.generate_demo_data('d', 300, seed => 5);
	SELECT segment.create_segmentation('every_second', 'd.orders', 'customer_id', 'ordered_at', 'amount',
	                                   clusters => 2, as_of => '2026-01-01');
	SELECT segment.schedule('every_second', '1 second');
});

# 1. an interval job runs and logs, from a scheduler and job workers that say what they are
wait_for('postgres',
	"SELECT count(*) >= 3 FROM segment.job_runs WHERE segmentation = 'every_second' AND status = 'succeeded'",
	'an interval job of one second runs and logs');
is($node->safe_psql('postgres',
	"SELECT last_status, consecutive_failures, next_run_at > now() - interval '5 seconds' FROM segment.jobs"),
	'succeeded|0|t', 'segment.jobs shows the last run and the next');
is($node->safe_psql('postgres',
	"SELECT bool_and(start_delay >= '0' AND start_delay < '5 seconds'), (SELECT last_start_delay IS NOT NULL FROM segment.jobs)"
	  . " FROM segment.job_runs WHERE segmentation = 'every_second' AND status = 'succeeded'"),
	't|t', 'each scheduled run records how late it started');
is($node->safe_psql('postgres',
	"SELECT string_agg(DISTINCT backend_type || ':' || coalesce(datname, '-'), ',')"
	  . " FROM pg_stat_activity WHERE backend_type IN ('segment launcher', 'segment scheduler')"),
	'segment launcher:-,segment scheduler:postgres', 'the launcher and the scheduler show in pg_stat_activity');
wait_for('postgres',
	"SELECT EXISTS (SELECT 1 FROM segment.job_runs WHERE segmentation = 'every_second' AND status = 'succeeded'"
	  . " AND rows = 300 AND scan_method = 'fast')",
	'a scheduled run writes the whole segment table');

# 2. a second database, its extension created while the server runs
$node->safe_psql('postgres', 'CREATE DATABASE db2');
$node->safe_psql('db2', q{
	CREATE EXTENSION segment;
	SELECT segment.generate_demo_data('d', 100, seed => 6);
	SELECT segment.create_segmentation('other_db', 'd.orders', 'customer_id', 'ordered_at', 'amount', clusters => 0);
	SELECT segment.schedule('other_db', '1 second');
});
wait_for('db2', "SELECT count(*) >= 2 FROM segment.job_runs WHERE status = 'succeeded'",
	'a database whose extension came later gets its jobs run, without a restart');

# 3. a non-owner sees no job and cannot change one
$node->safe_psql('postgres', q{
	CREATE ROLE alice NOLOGIN;
	CREATE ROLE bob NOLOGIN;
	GRANT USAGE ON SCHEMA d TO bob;
	GRANT SELECT ON d.orders TO bob;
	GRANT CREATE ON SCHEMA public TO bob;
});
is($node->safe_psql('postgres', 'SET ROLE alice; SELECT count(*) FROM segment.jobs'), '0',
	'a non-owner sees no job');
my ($rc, $out, $err) = $node->psql('postgres', "SET ROLE alice; SELECT segment.unschedule('every_second')");
like($err, qr/must be the owner of segmentation "every_second"/, 'a non-owner cannot unschedule a job');
($rc, $out, $err) = $node->psql('postgres', "SET ROLE alice; SELECT segment.pause('every_second')");
like($err, qr/must be the owner/, 'nor pause it');

# 4. runs as the owner, a role without LOGIN; losing SELECT makes it fail, not succeed
$node->safe_psql('postgres', q{
	SET ROLE bob;
	SELECT segment.create_segmentation('bobs', 'd.orders', 'customer_id', 'ordered_at', 'amount', clusters => 0);
	SELECT segment.schedule('bobs', '1 second');
});
wait_for('postgres', "SELECT count(*) >= 2 FROM segment.job_runs WHERE segmentation = 'bobs' AND status = 'succeeded'",
	'the job of an owner without LOGIN runs');
is($node->safe_psql('postgres',
	"SELECT tableowner FROM pg_tables WHERE tablename LIKE 'bobs_segments_r%'"), 'bob',
	'its new partition belongs to the owner');
my $bobs_rows = $node->safe_psql('postgres', 'SELECT count(*) FROM bobs_segments');
$node->safe_psql('postgres', 'REVOKE SELECT ON d.orders FROM bob');
wait_for('postgres',
	"SELECT EXISTS (SELECT 1 FROM segment.job_runs WHERE segmentation = 'bobs' AND status = 'failed'"
	  . " AND error_message LIKE '%permission denied%')",
	'without SELECT on the orders, the job fails with a permission error');
is($node->safe_psql('postgres', 'SELECT count(*) FROM bobs_segments'), $bobs_rows,
	'and the segment table keeps its rows');
wait_for('postgres', "SELECT consecutive_failures >= 1 FROM segment.jobs WHERE segmentation = 'bobs'",
	'the failures are counted');
$node->safe_psql('postgres', "SET ROLE bob; SELECT segment.unschedule('bobs')");

# 5. a dropped source table
$node->safe_psql('postgres', q{
	CREATE TABLE d.orders_copy AS SELECT * FROM d.orders;
	SELECT segment.create_segmentation('dropped_source', 'd.orders_copy', 'customer_id', 'ordered_at', 'amount', clusters => 0);
	DROP TABLE d.orders_copy;
	SELECT segment.schedule('dropped_source', '1 second');
});
wait_for('postgres',
	"SELECT EXISTS (SELECT 1 FROM segment.job_runs WHERE segmentation = 'dropped_source' AND status = 'failed'"
	  . " AND error_message LIKE '%no longer exists%')",
	'a job whose source was dropped fails with a clear message');
$node->safe_psql('postgres', "SELECT segment.unschedule('dropped_source')");

# 6. a dropped owner
$node->safe_psql('postgres', q{
	CREATE ROLE carol NOLOGIN;
	GRANT USAGE ON SCHEMA d TO carol;
	GRANT SELECT ON d.orders TO carol;
	GRANT CREATE ON SCHEMA public TO carol;
	SET ROLE carol;
	SELECT segment.create_segmentation('carols', 'd.orders', 'customer_id', 'ordered_at', 'amount', clusters => 0);
	SELECT segment.schedule('carols', '1 second');
	RESET ROLE;
	DROP OWNED BY carol;
	DROP ROLE carol;
});
wait_for('postgres',
	"SELECT EXISTS (SELECT 1 FROM segment.job_runs WHERE segmentation = 'carols' AND status = 'failed'"
	  . " AND error_message LIKE '%owner of segmentation \"carols\"%no longer exists%')",
	'a job whose owner was dropped fails with a clear message');
$node->safe_psql('postgres', "SELECT segment.unschedule('carols')");
my $before = $node->safe_psql('postgres',
	"SELECT count(*) FROM segment.job_runs WHERE segmentation = 'every_second' AND status = 'succeeded'");
wait_for('postgres',
	"SELECT count(*) > $before FROM segment.job_runs WHERE segmentation = 'every_second' AND status = 'succeeded'",
	'after all those failures, the scheduler still runs the other jobs');

# 7. a timeout, and a run that comes due while the previous one still runs
# (a view whose every scan sleeps 3 seconds)
$node->safe_psql('postgres', q{
	CREATE VIEW d.slow_orders AS SELECT * FROM d.orders WHERE (SELECT pg_sleep(3)) IS NOT NULL;
	SELECT segment.create_segmentation('timed_out', 'd.slow_orders', 'customer_id', 'ordered_at', 'amount', clusters => 0);
	SELECT segment.create_segmentation('overlapping', 'd.slow_orders', 'customer_id', 'ordered_at', 'amount', clusters => 0);
	SELECT segment.schedule('timed_out', '1 second', timeout => '1 second');
	SELECT segment.schedule('overlapping', '1 second');
});
wait_for('postgres',
	"SELECT EXISTS (SELECT 1 FROM segment.job_runs WHERE segmentation = 'timed_out' AND status = 'failed'"
	  . " AND error_message LIKE '%statement timeout%')",
	'a run past its timeout is cancelled and logged as failed');
wait_for('postgres',
	"SELECT EXISTS (SELECT 1 FROM segment.job_runs WHERE segmentation = 'overlapping' AND status = 'skipped'"
	  . " AND error_message = 'the previous run was still running')",
	'a run due while the previous one runs is skipped and logged');
wait_for('postgres',
	"SELECT EXISTS (SELECT 1 FROM segment.job_runs WHERE segmentation = 'overlapping' AND status = 'succeeded'"
	  . " AND finished_at > (SELECT max(started_at) FROM segment.job_runs WHERE segmentation = 'overlapping' AND status = 'skipped'))",
	'and the running one still finishes');
$node->safe_psql('postgres', "SELECT segment.unschedule('timed_out')");

# 8. the job worker killed with SIGKILL in the middle of a run (in its
# 3-second scan, so that it cannot commit meanwhile)
wait_for('postgres',
	"SELECT EXISTS (SELECT 1 FROM segment.refresh_progress WHERE segmentation = 'overlapping' AND phase = 'scanning')",
	'a scheduled refresh is scanning, and shows its phase');
my $victim = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'segment refresh' AND query LIKE 'scheduled refresh of \"overlapping\"%'");
my $overlapping_rows = $node->safe_psql('postgres', 'SELECT count(*), max(refreshed_at) FROM overlapping_segments');
kill 'KILL', $victim;
wait_for('postgres', 'SELECT true', 'the server recovers from the killed worker');
wait_for('postgres',
	"SELECT EXISTS (SELECT 1 FROM segment.job_runs WHERE status = 'failed'"
	  . " AND error_message LIKE 'the server restarted%')",
	'the run cut short is marked failed');
is($node->safe_psql('postgres', 'SELECT count(*), max(refreshed_at) FROM overlapping_segments'), $overlapping_rows,
	'and its segment table is intact');
$before = $node->safe_psql('postgres',
	"SELECT count(*) FROM segment.job_runs WHERE segmentation = 'every_second' AND status = 'succeeded'");
wait_for('postgres',
	"SELECT count(*) > $before FROM segment.job_runs WHERE segmentation = 'every_second' AND status = 'succeeded'",
	'the scheduler is back and runs jobs');

# 9. the server stopped (immediate) mid-run and started again: the run is marked
# failed, and an overdue job runs once, not once per missed slot
$node->safe_psql('postgres', "SELECT segment.unschedule('every_second'); SELECT segment.schedule('every_second', '2 seconds')");
wait_for('postgres',
	"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'segment refresh')",
	'a refresh runs before the stop');
$node->stop('immediate');
sleep 7;    # three slots of the 2-second job are missed
$node->start;
wait_for('postgres',
	"SELECT count(*) >= 2 FROM segment.job_runs WHERE status = 'failed' AND error_message LIKE 'the server restarted%'",
	'the run cut short by the stop is marked failed');
wait_for('postgres',
	"SELECT EXISTS (SELECT 1 FROM segment.job_runs WHERE segmentation = 'every_second' AND status = 'succeeded'"
	  . " AND started_at > pg_postmaster_start_time())",
	'after the restart the overdue job runs');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM segment.job_runs WHERE segmentation = 'every_second' AND status <> 'skipped'"
	  . " AND started_at BETWEEN pg_postmaster_start_time() AND"
	  . " (SELECT min(started_at) FROM segment.job_runs WHERE segmentation = 'every_second' AND started_at > pg_postmaster_start_time()) + interval '1.5 seconds'"),
	'1', 'once, not once per missed slot');
like($node->safe_psql('postgres',
	"SELECT error_message FROM segment.job_runs WHERE segmentation = 'every_second' AND status = 'skipped'"
	  . " AND started_at > pg_postmaster_start_time() ORDER BY run_id LIMIT 1"),
	qr/^\d+ scheduled runs?, .* missed: no scheduler ran then \(the server was down/,
	'the missed slots are logged in one skipped row');

# 10. more due jobs than workers: they wait their turn, never more than max_workers at once
$node->safe_psql('postgres', q{
	ALTER SYSTEM SET segment.max_workers = 1;
	SELECT pg_reload_conf();
	SELECT segment.schedule('timed_out', '1 second');
});
my $busiest = 0;
for (1 .. 30)
{
	my $n = $node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'segment refresh'");
	$busiest = $n if $n > $busiest;
	usleep(200_000);
}
is($busiest, '1', 'one job worker at a time with segment.max_workers = 1');
my $mark = $node->safe_psql('postgres', 'SELECT max(run_id) FROM segment.job_runs');
wait_for('postgres',
	"SELECT count(DISTINCT segmentation) = 3 FROM segment.job_runs WHERE run_id > $mark AND status IN ('succeeded', 'failed')",
	'and every due job still gets its turn');
is($node->safe_psql('postgres', "SELECT max(start_delay) > interval '1 second' FROM segment.job_runs WHERE run_id > $mark"),
	't', 'the scheduler falling behind shows in start_delay');
$node->safe_psql('postgres', q{
	ALTER SYSTEM RESET segment.max_workers;
	SELECT pg_reload_conf();
});

# 11. DROP DATABASE and DROP EXTENSION are not blocked by a scheduler
$node->safe_psql('postgres', 'DROP DATABASE db2');
pass('DROP DATABASE of a database with a running scheduler succeeds');
$node->safe_psql('postgres', 'CREATE DATABASE db3');
$node->safe_psql('db3', 'CREATE EXTENSION segment');
wait_for('postgres',
	"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'segment scheduler' AND datname = 'db3')",
	'CREATE EXTENSION starts a scheduler');
$node->safe_psql('db3', 'DROP EXTENSION segment');
wait_for('postgres',
	"SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'segment scheduler' AND datname = 'db3')",
	'DROP EXTENSION ends it');
$node->safe_psql('postgres', 'DROP DATABASE db3');

# 12. a hot standby runs nothing
$node->backup('backup');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'backup', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
sleep 3;
is($standby->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'segment%'"),
	'0', 'no launcher, scheduler or job on a hot standby');
$standby->stop;

$node->stop;
done_testing();
