# A backend killed (SIGKILL) in the middle of a refresh: after crash recovery
# the old segment table is intact, nothing of the half-done refresh remains,
# and the next refresh works.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'segment'\nrestart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION segment;
	SELECT segment.generate_demo_data('d', 3000);
	SELECT segment.create_segmentation('crash', 'd.orders', 'customer_id', 'ordered_at', 'amount',
	                                   clusters => 2, as_of => '2026-01-01');
	-- new orders, so that a finished refresh would change the table
	INSERT INTO d.orders SELECT -i, 100000 + i, '2025-12-30', 50 FROM generate_series(1, 500) AS i;
});
my $before = $node->safe_psql('postgres',
	'SELECT count(*), max(refreshed_at), sum(monetary) FROM crash_segments');

# a reader keeps the table open, so the refresh builds everything and then
# waits for its swap lock; it is killed there
my $reader = $node->background_psql('postgres');
$reader->query_safe('BEGIN; SELECT count(*) FROM crash_segments;');
my $refresher = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $refresher->query_safe('SELECT pg_backend_pid()');
$refresher->query_until(qr/started/, "\\echo started\nSELECT segment.refresh('crash');\n");
ok($node->poll_query_until('postgres',
	"SELECT wait_event IN ('relation', 'PgSleep') FROM pg_stat_activity WHERE pid = $pid"),
	'the refresh reached its swap and waits for the lock');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname LIKE 'crash_segments_r%' AND relkind = 'r'"), '1',
	'its new partition is invisible to others');

kill 'KILL', $pid;
eval { $refresher->quit; };
eval { $reader->quit; };
ok($node->poll_query_until('postgres', 'SELECT true'), 'the server recovered');
ok($node->log_contains(qr/terminated by signal 9/), 'the kill was a crash for the server');

is($node->safe_psql('postgres', 'SELECT count(*), max(refreshed_at), sum(monetary) FROM crash_segments'),
	$before, 'the old segment table is intact');
is($node->safe_psql('postgres',
	"SELECT count(*) FROM pg_inherits WHERE inhparent = 'crash_segments'::regclass"),
	'1', 'one partition, the old one');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_class WHERE relname LIKE 'crash_segments_%' AND relkind IN ('r', 'p')"),
	$node->safe_psql('postgres',
		"SELECT count(*) FROM pg_inherits WHERE inhparent IN ('crash_segments'::regclass, 'crash_segments_history'::regclass)")
	  + 1, 'no leftover tables: the old partition, one snapshot and the history parent');
is($node->safe_psql('postgres', "SELECT string_agg(status, ',') FROM segment.job_runs WHERE segmentation = 'crash'"),
	'succeeded', 'the run log holds only the first refresh');

is($node->safe_psql('postgres', "SELECT segment.refresh('crash')"), '3500', 'the next refresh works');
isnt($node->safe_psql('postgres', 'SELECT count(*), max(refreshed_at), sum(monetary) FROM crash_segments'),
	$before, 'and changes the table');

# the session of a manual refresh terminated mid-run (pg_terminate_backend):
# its transaction is gone with no error handler run, yet the run log shows
# it, written by the scheduler
$reader = $node->background_psql('postgres');
$reader->query_safe('BEGIN; SELECT count(*) FROM crash_segments;');
$refresher = $node->background_psql('postgres', on_error_stop => 0);
$pid = $refresher->query_safe('SELECT pg_backend_pid()');
$refresher->query_until(qr/started/, "\\echo started\nSELECT segment.refresh('crash');\n");
ok($node->poll_query_until('postgres',
	"SELECT wait_event IN ('relation', 'PgSleep') FROM pg_stat_activity WHERE pid = $pid"),
	'a second refresh waits for its swap lock');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
eval { $refresher->quit; };
eval { $reader->quit; };
ok($node->poll_query_until('postgres',
	"SELECT count(*) = 1 FROM segment.job_runs WHERE segmentation = 'crash' AND status = 'failed'"
	  . " AND error_message LIKE 'the session running the refresh ended before it finished%'"),
	'a refresh whose session was terminated is logged as failed');
is($node->safe_psql('postgres', 'SELECT count(*) FROM segment.refresh_progress'), '0',
	'and no longer shows as running');

$node->stop;
done_testing();
