# What a refresh waits for and what it leaves when its session goes away
# (issue 13):
#  - lock_timeout and statement_timeout bound the swap's whole wait for its
#    lock (each attempt of at most 50 ms used to restart the clock);
#  - with neither, the swap waits for a long reader and then succeeds;
#  - a refresh done in an explicit transaction shows as "committing" until
#    the transaction ends; when idle_in_transaction_session_timeout ends the
#    session first, the run log says the refresh was rolled back.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('ops');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'segment'\nsegment.naptime = 1\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION segment;
	SELECT segment.generate_demo_data('d', 300, seed => 5);
	SELECT segment.create_segmentation('ops', 'd.orders', 'customer_id', 'ordered_at', 'amount',
	                                   clusters => 0, as_of => '2026-01-01');
	SELECT segment.refresh('ops');
});
my $table = 'SELECT count(*), max(refreshed_at) FROM ops_segments';
my $before = $node->safe_psql('postgres', $table);

# a refresh against a reader that holds the segment table; returns its
# stderr and how long it took
sub refresh_against_reader
{
	my ($settings) = @_;
	my $reader = $node->background_psql('postgres');
	$reader->query_safe('BEGIN; SELECT count(*) FROM ops_segments;');
	my $start = time();
	my ($ret, $stdout, $stderr) = $node->psql('postgres', "$settings SELECT segment.refresh('ops');");
	my $took = time() - $start;
	$reader->quit;
	return ($ret, $stderr, $took);
}

# 1. lock_timeout: the whole wait, not each attempt (it took 7.5 s for 200ms, ~651 s for 3s)
my ($ret, $err, $took) = refresh_against_reader("SET lock_timeout = '200ms';");
isnt($ret, 0, 'with lock_timeout = 200ms and a long reader, the refresh fails');
like($err, qr/could not lock public\.ops_segments for the swap within lock_timeout \(200ms\)/,
	'saying it could not lock within lock_timeout');
cmp_ok($took, '<', 5, "within the bound (took ${took}s)");
is($node->safe_psql('postgres', $table), $before, 'the segment table is unchanged');
is($node->safe_psql('postgres',
	"SELECT error_message FROM segment.job_runs WHERE status = 'failed' ORDER BY run_id DESC LIMIT 1"),
	'could not lock public.ops_segments for the swap within lock_timeout (200ms)', 'and the run log says why');

# 2. statement_timeout ends the wait too
($ret, $err, $took) = refresh_against_reader("SET statement_timeout = '1s';");
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout ends the swap\'s wait');
cmp_ok($took, '<', 6, "within the bound (took ${took}s)");

# 3. without either, the swap waits for the reader, then swaps
{
	my $reader = $node->background_psql('postgres');
	$reader->query_safe('BEGIN; SELECT count(*) FROM ops_segments;');
	my $refresher = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $refresher->query_safe('SELECT pg_backend_pid()');
	$refresher->query_until(qr/started/, "\\echo started\nSELECT segment.refresh('ops');\n");
	ok($node->poll_query_until('postgres',
		"SELECT phase = 'swapping' FROM segment.refresh_progress WHERE pid = $pid"), 'the refresh waits to swap');
	$reader->query_safe('COMMIT');
	ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM segment.refresh_progress WHERE pid = $pid"), 'and swaps once the reader is done');
	$refresher->quit;
	isnt($node->safe_psql('postgres', $table), $before, 'the table is the new one');
	$before = $node->safe_psql('postgres', $table);
}

# 4. a refresh in an explicit transaction: "committing" until it ends; a
# ROLLBACK of the caller's is no failure of the refresh's
{
	my $session = $node->background_psql('postgres');
	my $pid = $session->query_safe('SELECT pg_backend_pid()');
	$session->query_safe("BEGIN; SELECT segment.refresh('ops');");
	is($node->safe_psql('postgres', "SELECT phase FROM segment.refresh_progress WHERE pid = $pid"), 'committing',
		'a finished refresh whose transaction is open shows as committing');
	$session->query_safe('ROLLBACK');
	is($node->safe_psql('postgres', "SELECT count(*) FROM segment.refresh_progress WHERE pid = $pid"), '0',
		'and is gone after the transaction');
	$session->quit;
}
my $failed = $node->safe_psql('postgres', "SELECT count(*) FROM segment.job_runs WHERE status = 'failed'");

# 5. idle_in_transaction_session_timeout ends the session before its commit:
# the refresh is rolled back, and the run log says so
{
	my $session = $node->background_psql('postgres', on_error_stop => 0);
	$session->query_safe("SET idle_in_transaction_session_timeout = '1s'");
	$session->query_safe("BEGIN; SELECT segment.refresh('ops');");
	ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM segment.job_runs WHERE status = 'failed'"
		  . " AND error_message LIKE 'the refresh finished, but its session ended before its transaction committed%'"),
		'a refresh whose session timed out before its commit is logged as failed');
	eval { $session->quit; };
}
ok($node->log_contains(qr/terminating connection due to idle-in-transaction timeout/), 'the session timed out');
is($node->safe_psql('postgres', "SELECT count(*) FROM segment.job_runs WHERE status = 'failed'"), $failed + 1,
	'the ROLLBACK before it was not logged as a failure');
is($node->safe_psql('postgres', $table), $before, 'its table was rolled back');
is($node->safe_psql('postgres', 'SELECT count(*) FROM segment.refresh_progress'), '0', 'nothing shows as running');
is($node->safe_psql('postgres', "SELECT segment.refresh('ops')"), '300', 'the next refresh works');

# 6. a refresh leaves a core to the queries beside it: under
# segment.parallel_scan = auto its scan takes at most the cores less two
# workers (always: whatever the cores), and the setting its index builds read
# is the caller's again when it returns
{
	my $cores = `nproc`;
	chomp $cores;
	$node->safe_psql('postgres', q{
		CREATE TABLE d.orders_many AS
		SELECT c AS customer_id, timestamptz '2025-01-01 00:00:00+00' + o * interval '1 day' AS ordered_at,
		       10::numeric AS amount
		FROM generate_series(1, 2000) AS c, generate_series(1, 20) AS o;
		ANALYZE d.orders_many;
		SELECT segment.create_segmentation('many', 'd.orders_many', 'customer_id', 'ordered_at', 'amount',
		                                   clusters => 0, as_of => '2026-01-01');
	});
	my $settings = 'SET min_parallel_table_scan_size = 0; SET max_parallel_maintenance_workers = 6;';
	my $workers = "SELECT scan_workers FROM segment.job_runs WHERE segmentation = 'many' ORDER BY run_id DESC LIMIT 1";
	$node->safe_psql('postgres', "$settings SET segment.parallel_scan = always; SELECT segment.refresh('many');");
	my $always = $node->safe_psql('postgres', $workers);
	ok($always > 0, "always: $always workers");
	my $after = $node->safe_psql('postgres',
		"$settings SELECT segment.refresh('many'); SHOW max_parallel_maintenance_workers;");
	my $cap = $cores - 2 < 0 ? 0 : $cores - 2;
	is($node->safe_psql('postgres', $workers), $always < $cap ? $always : $cap,
		"auto on $cores cores: at most the cores less two");
	is((split /\n/, $after)[-1], '6', 'max_parallel_maintenance_workers is the caller\'s again after the refresh');
}

$node->stop;
done_testing();
