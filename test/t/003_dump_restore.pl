# pg_dump and restore carry segmentations: the catalog rows, run log and
# metrics (extension configuration tables), the segment and history tables,
# and a refresh works on the restored database.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE DATABASE source');
$node->safe_psql('postgres', 'CREATE DATABASE target');
$node->safe_psql('source', q{
	CREATE EXTENSION segment;
	SELECT segment.generate_demo_data('d', 800);
	SELECT segment.create_segmentation('dumped', 'd.orders', 'customer_id', 'ordered_at', 'amount',
	                                   clusters => 3, as_of => '2026-01-01');
	SELECT segment.refresh('dumped');
});

my $dump = $node->basedir . '/dump.sql';
$node->command_ok([ 'pg_dump', '-d', $node->connstr('source'), '-f', $dump ], 'pg_dump');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('target'), '-f', $dump ],
	'restore');

my $state = q{
	SELECT (SELECT count(*) FROM segment.segmentations WHERE last_refreshed_at IS NOT NULL AND model IS NOT NULL),
	       (SELECT count(*) FROM segment.job_runs WHERE status = 'succeeded'),
	       (SELECT count(*) FROM segment.segment_summary),
	       (SELECT count(*) FROM segment.segment_migration),
	       (SELECT count(*) FROM public.dumped_segments),
	       (SELECT count(DISTINCT refreshed_at) FROM public.dumped_segments_history)};
is($node->safe_psql('target', $state), $node->safe_psql('source', $state),
	'catalog, run log, metrics, segment and history tables restored');
is($node->safe_psql('target', q{SELECT segment.refresh('dumped')}), '800', 'a refresh works after the restore');
is($node->safe_psql('target', q{SELECT count(*) FROM segment.job_runs}), '3', 'and is logged after the restored runs');

$node->stop;
done_testing();
