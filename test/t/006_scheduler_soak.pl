# Soak: 300 tiny segmentations scheduled at short intervals, with
# segment.max_workers = 4 and segment.naptime = 1, for SOAK_SECONDS (default
# 90): the scheduler's memory (pg_log_backend_memory_contexts, its "Grand
# total") stays flat over thousands of passes, and the run log holds what the
# schedules imply: never more runs of a job than its interval allows, none
# starved, none failed, none left 'running'.  Before the scheduler went back
# to its pass's memory context after each commit, its memory grew by
# megabytes a second here.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $soak_seconds = $ENV{SOAK_SECONDS} // 90;
my $warm_up = 15;    # seconds before the first sample: caches fill, workers start
my $jobs = 300;
my $fast_jobs = 20;  # of them every SOAK_FAST_INTERVAL seconds, the others every SOAK_SLOW_INTERVAL
# The load stays below what the machine can run, so that a job falling behind
# is the scheduler's doing: 20 / 5 + 280 / 80 = 7.5 runs a second by default.
# On a 2-core VM where starting a worker process is slow, 4 workers ran about
# 12 small refreshes a second (the earlier 17 a second fell behind there).
my $fast_interval = $ENV{SOAK_FAST_INTERVAL} // 5;
my $slow_interval = $ENV{SOAK_SLOW_INTERVAL} // 80;
my $growth_limit = 1024 * 1024;

my $node = PostgreSQL::Test::Cluster->new('soak');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'segment'
segment.naptime = 1
segment.max_workers = 4
max_worker_processes = 16
});
$node->start;

# 300 segmentations over 5 small demo data sets
$node->safe_psql('postgres', qq{
	CREATE EXTENSION segment;
	SELECT segment.generate_demo_data('soak' || i, 20, seed => i, years => 1) FROM generate_series(1, 5) AS i;
	SELECT segment.create_segmentation('soak_' || i, 'soak' || (i % 5 + 1) || '.orders', 'customer_id',
	                                   'ordered_at', 'amount', clusters => 0)
	FROM generate_series(1, $jobs) AS i;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM segment.segmentations'), $jobs, "$jobs segmentations");
$node->safe_psql('postgres', qq{
	SELECT segment.schedule('soak_' || i, CASE WHEN i <= $fast_jobs THEN '$fast_interval seconds'
	                                          ELSE '$slow_interval seconds' END)
	FROM generate_series(1, $jobs) AS i;
});
my $start = time;

ok($node->poll_query_until('postgres', 'SELECT segment._scheduler_pid() IS NOT NULL'), 'the scheduler runs');
my $pid = $node->safe_psql('postgres', 'SELECT segment._scheduler_pid()');

# The scheduler's memory in bytes: it logs its memory contexts, whose last
# line is their grand total.
sub scheduler_memory
{
	my $offset = -s $node->logfile;
	$node->safe_psql('postgres', "SELECT pg_log_backend_memory_contexts($pid)");
	for (1 .. 300)
	{
		my $log = slurp_file($node->logfile, $offset);
		return $1 if $log =~ /\[$pid\] LOG:  Grand total: (\d+) bytes/;
		usleep(100_000);
	}
	die "the scheduler (pid $pid) did not log its memory contexts";
}

sleep $warm_up;
my $window_start = $node->safe_psql('postgres', 'SELECT now()');
my @samples = (scheduler_memory());
while (time - $start < $soak_seconds)
{
	sleep 10;
	push @samples, scheduler_memory();
}
my $window_end = $node->safe_psql('postgres', 'SELECT now()');
my $passes = $node->safe_psql('postgres',
	"SELECT count(*) FROM segment.runs WHERE scheduled_for >= '$window_start' AND scheduled_for < '$window_end'");
note("scheduler memory (bytes), every 10 s after a ${warm_up}-s warm-up: @samples");
note("scheduled runs in the window: $passes");
cmp_ok($samples[-1] - $samples[0], '<', $growth_limit,
	sprintf('the scheduler\'s memory stays flat: %d bytes, then %d after %d s of %d due jobs (< 1 MB growth)',
		$samples[0], $samples[-1], 10 * $#samples, $jobs));
is($node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'segment scheduler'"),
	$pid, 'the same scheduler throughout');

# The run log: consecutive runs of a job are at least its interval apart, so
# a window of W seconds holds at most W / interval + 1 of them; at least
# W / (interval + 25%) - 1 unless the scheduler falls behind.
my $per_job = $node->safe_psql('postgres', qq{
	WITH w AS (SELECT extract(epoch FROM timestamptz '$window_end' - '$window_start') AS seconds),
	counts AS (
		SELECT s.name, CASE WHEN substr(s.name, 6)::int <= $fast_jobs THEN $fast_interval ELSE $slow_interval END
		           AS period,
		       count(r.run_id) FILTER (WHERE r.status <> 'skipped') AS runs
		FROM segment.segmentations AS s
		LEFT JOIN segment.runs AS r ON r.segmentation = s.name
		     AND r.scheduled_for >= '$window_start' AND r.scheduled_for < '$window_end'
		GROUP BY 1, 2)
	SELECT count(*) FILTER (WHERE runs > floor(w.seconds / period) + 1),
	       count(*) FILTER (WHERE runs < floor(w.seconds / (period * 1.25)) - 1),
	       sum(runs), round(sum(w.seconds / period))
	FROM counts, w});
my ($too_many, $too_few, $runs, $expected) = split /\|/, $per_job;
note("runs in the window: $runs, the schedules imply about $expected");
is($too_many, '0', 'no job ran more often than its interval allows');
is($too_few, '0', 'no job fell more than a quarter behind its interval');
is($node->safe_psql('postgres', "SELECT count(*) FROM segment.runs WHERE status = 'failed'"), '0', 'no run failed');

# paused, every run finishes and none is left 'running'
$node->safe_psql('postgres', 'SELECT segment.pause(name) FROM segment.segmentations');
ok($node->poll_query_until('postgres',
	"SELECT NOT EXISTS (SELECT 1 FROM segment.runs WHERE status = 'running')"
	  . " AND NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'segment refresh')"),
	'once paused, no run is left running');

$node->stop;
done_testing();
