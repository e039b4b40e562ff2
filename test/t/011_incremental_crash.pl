# An incremental refresh killed (SIGKILL) at three points: while it reads
# (the carts, a view that waits on an advisory lock), while it waits for its
# swap, and after it returned but before its transaction committed.  Each
# time, after crash recovery, the table and the captured changes are as
# they were, and the next refresh is incremental, recomputes the changed
# customers once, and equals a full refresh of the same orders.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('incremental_crash');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'segment'\nrestart_after_crash = on\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE EXTENSION segment;
	SELECT segment.generate_demo_data('d', 3000, seed => 11);
	CREATE TABLE d.cart_rows AS SELECT customer_id, added_at FROM d.carts;
	CREATE FUNCTION d.gate() RETURNS bool LANGUAGE plpgsql AS $$
	BEGIN
	    PERFORM pg_advisory_xact_lock_shared(77);
	    RETURN true;
	END $$;
	CREATE VIEW d.gated_carts AS SELECT customer_id, added_at FROM d.cart_rows WHERE d.gate();
	SELECT segment.create_segmentation('inc', 'd.orders', 'customer_id', 'ordered_at', 'amount',
	                                   clusters => 2, as_of => '2026-01-01', carts => 'd.gated_carts',
	                                   cart_time_column => 'added_at', incremental => 'triggers');
	SELECT segment.create_segmentation('ref', 'd.orders', 'customer_id', 'ordered_at', 'amount',
	                                   clusters => 2, as_of => '2026-01-01', carts => 'd.gated_carts',
	                                   cart_time_column => 'added_at', target_table => 'ref_segments');
});

my $state = q{
	SELECT (SELECT count(*) || ' rows, ' || sum(monetary) || ' revenue, ' || max(refreshed_at) FROM inc_segments),
	       (SELECT count(*) FROM segment.captured_changes WHERE segmentation = 'inc'),
	       (SELECT count(*) FROM pg_inherits WHERE inhparent = 'inc_segments'::regclass),
	       (SELECT count(*) FROM pg_class WHERE relname LIKE 'inc_segments_r%' AND relkind = 'r')};
my $differing = q{
	SELECT count(*) FROM (
	    (SELECT customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment,
	            lifecycle_segment, cluster, first_order_at, last_order_at FROM inc_segments
	     EXCEPT ALL
	     SELECT customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment,
	            lifecycle_segment, cluster, first_order_at, last_order_at FROM ref_segments)
	    UNION ALL
	    (SELECT customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment,
	            lifecycle_segment, cluster, first_order_at, last_order_at FROM ref_segments
	     EXCEPT ALL
	     SELECT customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_segment,
	            lifecycle_segment, cluster, first_order_at, last_order_at FROM inc_segments)) AS d};
my $last_run = q{
	SELECT refresh_kind || ' ' || coalesce(customers_changed::text, '-') FROM segment.job_runs
	WHERE segmentation = 'inc' AND status = 'succeeded' ORDER BY run_id DESC LIMIT 1};

# Kills the backend of a refresh once $ready holds, then checks that
# nothing changed and that the next refresh recomputes $changed customers.
sub crash_and_recover
{
	my ($point, $start, $ready, $release, $changed) = @_;
	my $before = $node->safe_psql('postgres', $state);
	my ($holder, $pid, $refresher) = $start->();
	ok($node->poll_query_until('postgres', $ready->($pid)), "$point: the refresh got there");
	kill 'KILL', $pid;
	eval { $refresher->quit; };
	eval { $holder->quit; } if $holder;
	ok($node->poll_query_until('postgres', 'SELECT true'), "$point: the server recovered");
	is($node->safe_psql('postgres', $state), $before, "$point: the table and the captured changes are as they were");
	$node->safe_psql('postgres', "SELECT segment.refresh('inc'), segment.refresh('ref')");
	is($node->safe_psql('postgres', $last_run), "incremental $changed",
		"$point: the next refresh is incremental and recomputes the $changed changed customers once");
	is($node->safe_psql('postgres', $differing), '0', "$point: and equals a full refresh");
	is($node->safe_psql('postgres', "SELECT count(*) FROM segment.captured_changes WHERE segmentation = 'inc'"),
		'0', "$point: no change left");
}

sub start_refresh
{
	my ($sql) = @_;
	my $refresher = $node->background_psql('postgres', on_error_stop => 0);
	my $pid = $refresher->query_safe('SELECT pg_backend_pid()');
	$refresher->query_until(qr/started/, "\\echo started\n$sql\n");
	return ($pid, $refresher);
}

# 1. while it reads: the carts wait on the advisory lock another session holds
$node->safe_psql('postgres', q{
	UPDATE d.orders SET amount = amount * 2 WHERE customer_id BETWEEN 1 AND 40;
	INSERT INTO d.orders SELECT -i, 100000 + i, '2025-12-30', 50 FROM generate_series(1, 25) AS i});
my $changed = $node->safe_psql('postgres', "SELECT count(DISTINCT customer) FROM segment.captured_changes WHERE segmentation = 'inc'");
cmp_ok($changed, '>', 25, "$changed customers changed");
crash_and_recover('reading',
	sub {
		my $holder = $node->background_psql('postgres');
		$holder->query_safe('BEGIN; SELECT pg_advisory_xact_lock(77);');
		my ($pid, $refresher) = start_refresh("SELECT segment.refresh('inc');");
		return ($holder, $pid, $refresher);
	},
	sub { "SELECT wait_event = 'advisory' FROM pg_stat_activity WHERE pid = $_[0]" },
	undef, $changed);

# 2. while it waits for its swap: a reader holds the table
$node->safe_psql('postgres', q{DELETE FROM d.orders WHERE customer_id BETWEEN 50 AND 59});
$changed = $node->safe_psql('postgres', "SELECT count(DISTINCT customer) FROM segment.captured_changes WHERE segmentation = 'inc'");
crash_and_recover('swapping',
	sub {
		my $holder = $node->background_psql('postgres');
		$holder->query_safe('BEGIN; SELECT count(*) FROM inc_segments;');
		my ($pid, $refresher) = start_refresh("SELECT segment.refresh('inc');");
		return ($holder, $pid, $refresher);
	},
	sub { "SELECT wait_event IN ('relation', 'PgSleep') FROM pg_stat_activity WHERE pid = $_[0]" },
	undef, $changed);

# 3. after the refresh returned (its changes deleted), before its commit
$node->safe_psql('postgres', q{INSERT INTO d.orders SELECT -1000 - i, i, '2025-11-30', 7 FROM generate_series(1, 30) AS i});
$changed = $node->safe_psql('postgres', "SELECT count(DISTINCT customer) FROM segment.captured_changes WHERE segmentation = 'inc'");
crash_and_recover('committing',
	sub {
		my ($pid, $refresher) = start_refresh(
			"BEGIN; SELECT segment.refresh('inc'); SELECT pg_sleep(600);");
		return (undef, $pid, $refresher);
	},
	sub { "SELECT wait_event = 'PgSleep' AND query LIKE '%pg_sleep(600)%' FROM pg_stat_activity WHERE pid = $_[0]" },
	undef, $changed);

ok($node->log_contains(qr/terminated by signal 9/), 'the kills were crashes for the server');
$node->stop;
done_testing();
