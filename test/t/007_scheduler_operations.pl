# The scheduler under operations: an unknown segment.timezone is refused; a
# scheduler whose passes fail says why in segment.jobs until they work again;
# a segment.timezone reload moves the next runs of cron jobs; segment.enabled
# off lets the running refresh finish and starts nothing, on again the jobs
# resume and the runs missed meanwhile are logged; CREATE DATABASE ...
# TEMPLATE and ALTER DATABASE ... RENAME hold the scheduler off only while
# they run.  Every wait polls with a deadline.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $node = PostgreSQL::Test::Cluster->new('ops');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'segment'
segment.naptime = 1
segment.timezone = 'UTC'
max_worker_processes = 20
});
$node->start;

sub wait_for
{
	my ($db, $query, $what) = @_;
	ok($node->poll_query_until($db, $query), $what);
}

sub reload_with
{
	my ($settings) = @_;
	$node->safe_psql('postgres', "$settings; SELECT pg_reload_conf();");
}

$node->safe_psql('postgres', q{
	CREATE EXTENSION segment;
	SELECT segment.generate_demo_data('d', 100, seed => 5, years => 1);
	SELECT segment.create_segmentation('quick', 'd.orders', 'customer_id', 'ordered_at', 'amount', clusters => 0);
	SELECT segment.create_segmentation('daily', 'd.orders', 'customer_id', 'ordered_at', 'amount', clusters => 0);
	CREATE ROLE alice NOLOGIN;
});

# 1. an unknown time zone is refused when set, and by a reload
my ($rc, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nALTER SYSTEM SET segment.timezone = 'Not/AZone'");
like($err, qr/ERROR:  22023: invalid value for parameter "segment.timezone": "Not\/AZone"/,
	'ALTER SYSTEM SET segment.timezone to an unknown zone fails with 22023');
like($err, qr/DETAIL:  Time zone "Not\/AZone" is not recognized.*HINT:  Use a name from pg_timezone_names/s,
	'saying why and what to use');
$node->safe_psql('postgres', "ALTER SYSTEM SET segment.timezone = ''; ALTER SYSTEM RESET segment.timezone");
pass("'' (the server's TimeZone) is accepted");
$node->append_conf('postgresql.conf', "segment.timezone = 'Not/AZone'");
$node->reload;
wait_for('postgres', "SELECT EXISTS (SELECT 1 FROM pg_file_settings WHERE name = 'segment.timezone'"
	  . " AND setting = 'Not/AZone' AND NOT applied)", 'a reload with an unknown zone is not applied');
is($node->safe_psql('postgres', 'SHOW segment.timezone'), 'UTC', 'and keeps the previous zone');
$node->append_conf('postgresql.conf', "segment.timezone = 'UTC'");
$node->reload;

# 2. the scheduler's passes fail (here its INSERT of a 'running' row): every
# job's row says so, until they work again
$node->safe_psql('postgres', "SELECT segment.schedule('quick', '1 second')");
wait_for('postgres', "SELECT count(*) >= 2 FROM segment.runs WHERE segmentation = 'quick' AND status = 'succeeded'",
	'a 1-second job runs');
is($node->safe_psql('postgres', 'SELECT count(*) FROM segment.jobs WHERE scheduler_error IS NOT NULL'), '0',
	'no scheduler error while the passes work');
$node->safe_psql('postgres',
	"ALTER TABLE segment.runs ADD CONSTRAINT t_fail CHECK (status <> 'running') NOT VALID");
wait_for('postgres',
	"SELECT bool_and(scheduler_error = 'new row for relation \"runs\" violates check constraint \"t_fail\"'"
	  . " AND scheduler_failing_since <= now()) FROM segment.jobs",
	'segment.jobs shows why the scheduler fails, on every row');
my $since = $node->safe_psql('postgres', 'SELECT DISTINCT scheduler_failing_since FROM segment.jobs');
sleep 2;
is($node->safe_psql('postgres', 'SELECT DISTINCT scheduler_failing_since FROM segment.jobs'), $since,
	'since when: the first failing pass');
is($node->safe_psql('postgres', 'SET ROLE alice; SELECT error FROM segment._scheduler_status()'),
	'the scheduler of this database is failing: see the server log',
	'a role outside pg_read_all_stats is sent to the server log');
$node->safe_psql('postgres', 'ALTER TABLE segment.runs DROP CONSTRAINT t_fail');
wait_for('postgres', 'SELECT bool_and(scheduler_error IS NULL AND scheduler_failing_since IS NULL) FROM segment.jobs',
	'the error clears after a good pass');
my $mark = $node->safe_psql('postgres', 'SELECT max(run_id) FROM segment.runs');
wait_for('postgres', "SELECT EXISTS (SELECT 1 FROM segment.runs WHERE run_id > $mark AND status = 'succeeded')",
	'and the jobs run again');

# 3. a segment.timezone reload moves the next run of a cron job not yet due
$node->safe_psql('postgres', "SELECT segment.schedule('daily', '0 3 * * *')");
is($node->safe_psql('postgres',
	"SELECT next_run_at = segment.next_run('0 3 * * *', now(), 'UTC') FROM segment.jobs WHERE segmentation = 'daily'"),
	't', 'a daily cron job is due at 03:00 UTC');
reload_with("ALTER SYSTEM SET segment.timezone = 'Asia/Tokyo'");
wait_for('postgres',
	"SELECT next_run_at = segment.next_run('0 3 * * *', now(), 'Asia/Tokyo') FROM segment.jobs WHERE segmentation = 'daily'",
	'after segment.timezone = Asia/Tokyo and a reload, at 03:00 in Tokyo');
reload_with('ALTER SYSTEM RESET segment.timezone');
wait_for('postgres',
	"SELECT next_run_at = segment.next_run('0 3 * * *', now(), 'UTC') FROM segment.jobs WHERE segmentation = 'daily'",
	'and back at 03:00 UTC');
$node->safe_psql('postgres', "SELECT segment.unschedule('daily')");

# 4. segment.enabled off mid-run: the refresh finishes and is logged, nothing
# new starts, the scheduler leaves; on again, the jobs resume and the runs
# missed meanwhile are logged in one row (a view whose every scan sleeps 3 s)
$node->safe_psql('postgres', q{
	CREATE VIEW d.slow_orders AS SELECT * FROM d.orders WHERE (SELECT pg_sleep(3)) IS NOT NULL;
	SELECT segment.create_segmentation('slow', 'd.slow_orders', 'customer_id', 'ordered_at', 'amount', clusters => 0);
	SELECT segment.schedule('slow', '1 second');
});
wait_for('postgres', "SELECT EXISTS (SELECT 1 FROM segment.refresh_progress WHERE segmentation = 'slow' AND phase = 'scanning')",
	'a slow scheduled refresh is scanning');
my $slow_run = $node->safe_psql('postgres',
	"SELECT max(run_id) FROM segment.runs WHERE segmentation = 'slow' AND status = 'running'");
reload_with('ALTER SYSTEM SET segment.enabled = off');
my $off_at = $node->safe_psql('postgres', 'SELECT now()');
wait_for('postgres', "SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'segment scheduler')",
	'segment.enabled off: the scheduler leaves');
is($node->safe_psql('postgres', "SELECT status, finished_at > '$off_at' FROM segment.runs WHERE run_id = $slow_run"),
	'succeeded|t', 'after the running refresh finished, logged as succeeded');
sleep 4;    # four firings of each 1-second job go by
is($node->safe_psql('postgres',
	"SELECT count(*) FROM segment.runs WHERE started_at > timestamptz '$off_at' + interval '1 second'"),
	'0', 'nothing started while off');
$mark = $node->safe_psql('postgres', 'SELECT max(run_id) FROM segment.runs');
reload_with('ALTER SYSTEM RESET segment.enabled');
wait_for('postgres', "SELECT EXISTS (SELECT 1 FROM segment.runs WHERE run_id > $mark AND segmentation = 'quick' AND status = 'succeeded')",
	'on again, the jobs resume');
like($node->safe_psql('postgres',
	"SELECT error_message FROM segment.runs WHERE run_id > $mark AND segmentation = 'quick' AND status = 'skipped'"),
	qr/^\d+ scheduled runs, from .* to .*, were missed: no scheduler ran then \(.*segment\.enabled was off\)/,
	'the runs missed while off are logged in one skipped row');
cmp_ok($node->safe_psql('postgres',
	"SELECT substring(error_message FROM '^(\\d+) scheduled runs')::int FROM segment.runs"
	  . " WHERE run_id > $mark AND segmentation = 'quick' AND status = 'skipped'"),
	'>=', 3, 'counting them');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM segment.runs WHERE run_id > $mark AND segmentation = 'quick' AND status <> 'skipped'"
	  . " AND started_at < (SELECT min(started_at) FROM segment.runs WHERE run_id > $mark AND segmentation = 'quick') + interval '0.5 seconds'"),
	'1', 'the overdue job runs once');
$node->safe_psql('postgres', "SELECT segment.unschedule('slow')");

# 5. CREATE DATABASE ... TEMPLATE and ALTER DATABASE ... RENAME: the
# scheduler of the database copied or renamed is back as soon as they end
$node->safe_psql('postgres', 'CREATE DATABASE tmpl');
$node->safe_psql('tmpl', q{
	CREATE EXTENSION segment;
	SELECT segment.generate_demo_data('d', 50, seed => 7, years => 1);
	SELECT segment.create_segmentation('t', 'd.orders', 'customer_id', 'ordered_at', 'amount', clusters => 0);
	SELECT segment.schedule('t', '1 second');
});
my $scheduler_of = "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'segment scheduler' AND datname = '%s')";
wait_for('postgres', sprintf($scheduler_of, 'tmpl'), 'the template has a scheduler');
for my $command ('CREATE DATABASE tmpl_copy TEMPLATE tmpl', 'ALTER DATABASE tmpl RENAME TO tmpl2')
{
	my $target = $command =~ /RENAME/ ? 'tmpl2' : 'tmpl';
	my $pid_before = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'segment scheduler' AND datname = 'tmpl'");
	$node->safe_psql('postgres', $command);
	my $done = time;
	my $back;
	for (1 .. 300)
	{
		$back = time - $done;
		last if $node->safe_psql('postgres', sprintf($scheduler_of, $target)) eq 't';
		usleep(100_000);
		$back = undef;
	}
	ok(defined $back && $back < 5,
		sprintf('%s: the scheduler is back %.1f s after it (not 30 s)', $command, $back // -1));
	isnt($node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'segment scheduler' AND datname = '$target'"),
		$pid_before, 'a new one: the command stopped the old');
}
wait_for('tmpl_copy', "SELECT EXISTS (SELECT 1 FROM segment.runs WHERE status = 'succeeded' AND started_at > now() - interval '5 seconds')",
	'the copy runs its own jobs');
$mark = $node->safe_psql('tmpl2', 'SELECT max(run_id) FROM segment.runs');
wait_for('tmpl2', "SELECT EXISTS (SELECT 1 FROM segment.runs WHERE run_id > $mark AND status = 'succeeded')",
	'and the renamed template its');
$node->safe_psql('postgres', 'DROP DATABASE tmpl_copy');
$node->safe_psql('postgres', 'DROP DATABASE tmpl2');
pass('DROP DATABASE is not blocked');

$node->stop;
done_testing();
