# The upgrade from 0.1.0: a database made by 0.1.0's library and scripts
# (segmentations of every kind of source, refreshed, one scheduled, a run
# log and history), then the new package installed and the server
# restarted: until ALTER EXTENSION segment UPDATE, the new library refuses
# 0.1.0's SQL with a message saying to update, and the scheduler runs no
# job; the update, made while the schedule is active, leaves every object
# equal to a fresh install (test/upgrade/catalog.sql), keeps every
# segmentation, its metrics, runs and schedule, and its history (converted
# from snapshots to the changes between them), and the scheduler
# goes on without a restart; the updated database refreshes, and survives
# pg_dump and restore.
#   SEGMENT_OLD_INSTALL: a PostgreSQL installation with segment 0.1.0
#   (test/upgrade/install_0.1.0.sh makes it; test/run_tests.sh runs both).
#   SEGMENT_NEW_INSTALL: where this tree's build was installed with
#   DESTDIR (default: installed into the server's own directories).
use strict;
use warnings;
use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $old = $ENV{SEGMENT_OLD_INSTALL};
plan skip_all => 'SEGMENT_OLD_INSTALL is not set (see test/upgrade/install_0.1.0.sh)'
  unless defined $old && -d $old;
my $libroot = `pg_config --bindir`;
chomp $libroot;
$libroot =~ s{/bin$}{};
my ($pkglib, $share) = (`pg_config --pkglibdir`, `pg_config --sharedir`);
chomp($pkglib, $share);
my $old_root = "$old$libroot";

my $node = PostgreSQL::Test::Cluster->new('upgrade', install_path => $old_root);
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'segment'\nsegment.naptime = 1\n");
$node->start;

# 1. 0.1.0: segmentations over a table (C scan), a view (SQL path), and with
# touchpoints, spend and carts; refreshed twice; one scheduled
$node->safe_psql('postgres', q{
	CREATE EXTENSION segment;
	SELECT segment.generate_demo_data('d', 600, seed => 7);
	CREATE VIEW d.orders_view AS SELECT * FROM d.orders WHERE amount > 0;
	SELECT segment.create_segmentation('plain', 'd.orders', 'customer_id', 'ordered_at', 'amount',
	                                   order_id_column => 'order_id', clusters => 3, as_of => '2026-01-01');
	SELECT segment.create_segmentation('viewed', 'd.orders_view', 'customer_id', 'ordered_at', 'amount',
	                                   clusters => 0, as_of => '2026-01-01', lookback => '2 years');
	SELECT segment.create_segmentation('full', 'd.orders', 'customer_id', 'ordered_at', 'amount',
	                                   clusters => 2, as_of => '2026-01-01',
	                                   touchpoints => 'd.touchpoints', touch_time_column => 'touched_at',
	                                   spend => 'd.spend', carts => 'd.carts', cart_time_column => 'added_at');
	-- orders change between the refreshes: the history has changes to convert
	UPDATE d.orders SET amount = amount * 5 WHERE customer_id % 7 = 0;
	DELETE FROM d.orders WHERE customer_id % 11 = 0;
	SELECT segment.refresh(name) FROM segment.segmentations ORDER BY name;
	-- a history table its owner altered: not converted, kept aside
	SELECT segment.create_segmentation('altered', 'd.orders', 'customer_id', 'ordered_at', 'amount', clusters => 0);
	ALTER TABLE public.altered_segments_history ADD COLUMN note text;
	SELECT segment.create_segmentation('ticker', 'd.orders', 'customer_id', 'ordered_at', 'amount', clusters => 0,
	                                   target_table => 'd.ticker_segments');
	SELECT segment.schedule('ticker', '2 seconds');
});
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'segment'"), '0.1.0',
	'the database is made by 0.1.0');
ok($node->poll_query_until('postgres',
	"SELECT count(*) >= 2 FROM segment.job_runs WHERE segmentation = 'ticker' AND status = 'succeeded'"
	  . " AND started_at > (SELECT changed_at FROM segment.schedules WHERE segmentation = 'ticker')"),
	'0.1.0\'s scheduler runs the job');

my $state = q{
	SELECT s.name, s.bins, s.clusters, s.lookback, s.touchpoints IS NOT NULL, s.model IS NOT NULL,
	       s.last_refreshed_at IS NOT NULL,
	       (SELECT count(*) FROM segment.runs AS r WHERE r.segmentation = s.name),
	       (SELECT count(*) FROM segment.summaries AS m WHERE m.segmentation = s.name),
	       (SELECT count(*) FROM segment.attributions AS a WHERE a.segmentation = s.name),
	       (SELECT count(*) FROM pg_inherits WHERE inhparent = s.history_table)
	FROM segment.segmentations AS s WHERE s.name NOT IN ('ticker', 'altered') ORDER BY s.name};
my $altered_rows = $node->safe_psql('postgres', 'SELECT count(*) FROM public.altered_segments_history');
my $tables = q{
	SELECT (SELECT md5(string_agg(t::text, ',' ORDER BY customer_id)) FROM public.plain_segments AS t),
	       (SELECT md5(string_agg(t::text, ',' ORDER BY customer_id)) FROM public.viewed_segments AS t),
	       (SELECT md5(string_agg(t::text, ',' ORDER BY customer_id)) FROM public.full_segments AS t)};
# the history: 0.1.0's snapshots, 0.2.0's changes between consecutive ones
my %history;
for my $name ('plain', 'viewed', 'full')
{
	$history{$name} = [
		qq{
		WITH h AS (SELECT * FROM public.${name}_segments_history),
		     pairs AS (SELECT at, lag(at) OVER (ORDER BY at) AS before FROM (SELECT DISTINCT refreshed_at AS at FROM h) AS t)
		SELECT count(*), md5(string_agg(format('%s/%s/%s/%s/%s', c.customer, c.segment_type, c.from_segment,
		                                       c.to_segment, p.at), ',' ORDER BY p.at, c.customer, c.segment_type))
		FROM pairs AS p
		CROSS JOIN LATERAL (
		    SELECT coalesce(b.customer_id, a.customer_id) AS customer, x.*
		    FROM (SELECT * FROM h WHERE refreshed_at = p.before) AS a
		    FULL JOIN (SELECT * FROM h WHERE refreshed_at = p.at) AS b USING (customer_id)
		    CROSS JOIN LATERAL (VALUES ('rfm', a.rfm_segment, b.rfm_segment),
		                               ('lifecycle', a.lifecycle_segment, b.lifecycle_segment),
		                               ('cluster', a.cluster::text, b.cluster::text)) AS x (segment_type, from_segment, to_segment)
		    WHERE x.from_segment IS DISTINCT FROM x.to_segment) AS c
		WHERE p.before IS NOT NULL},
		qq{
		SELECT count(*), md5(string_agg(format('%s/%s/%s/%s/%s', customer_id, segment_type, from_segment, to_segment,
		                                       refreshed_at), ',' ORDER BY refreshed_at, customer_id, segment_type))
		FROM public.${name}_segments_history}];
}
# the first snapshot kept, unpivoted: the membership to rebuild after the update
my $first_snapshot = q{
	SELECT md5(string_agg(format('%s/%s/%s', c, t, m), ',' ORDER BY c, t))
	FROM public.full_segments_history AS h
	CROSS JOIN LATERAL (VALUES (h.customer_id::text, 'rfm', h.rfm_segment), (h.customer_id::text, 'lifecycle', h.lifecycle_segment),
	                           (h.customer_id::text, 'cluster', h.cluster::text)) AS x (c, t, m)
	WHERE h.refreshed_at = (SELECT min(refreshed_at) FROM public.full_segments_history) AND m IS NOT NULL};
my $first_refresh = $node->safe_psql('postgres', 'SELECT min(refreshed_at) FROM public.full_segments_history');
my $schedule = q{SELECT segmentation, schedule, active FROM segment.schedules ORDER BY 1};
# (the scheduled one changes all along: it is left out)
my $customers = $node->safe_psql('postgres', q{
	SELECT 'full=' || (SELECT count(*) FROM public.full_segments) || ',plain=' || (SELECT count(*) FROM public.plain_segments)
	       || ',viewed=' || (SELECT count(*) FROM public.viewed_segments)});
my %before = map { $_ => $node->safe_psql('postgres', $_) } ($state, $tables, $schedule, $first_snapshot);
$before{$_} = $node->safe_psql('postgres', $history{$_}[0]) for keys %history;
cmp_ok((split /\|/, $before{full})[0], '>', 100, "the snapshots differ: $before{full}");

# 2. the new package (library and scripts), and a restart: the library is preloaded
$node->stop;
my $new = $ENV{SEGMENT_NEW_INSTALL} // '';
copy("$new$pkglib/segment.so", "$old$pkglib/segment.so") or die "copy segment.so: $!";
unlink glob("$old$share/extension/segment*");
copy($_, "$old$share/extension/") or die "copy $_: $!" for glob("$new$share/extension/segment*");
$node->start;

# 3. before the update: a clear refusal, and no job runs
my ($ret, $stdout, $stderr) = $node->psql('postgres', "SELECT segment.refresh('plain')");
like($stderr, qr/needs the segment extension at version 0\.2\.0 in this database, which has version 0\.1\.0/,
	'0.1.0\'s refresh says the database must be updated');
like($stderr, qr/HINT:  Run ALTER EXTENSION segment UPDATE/, 'and how');
ok($node->poll_query_until('postgres', 'SELECT true FROM pg_stat_activity WHERE backend_type = \'segment scheduler\''),
	'the new scheduler runs');
ok($node->wait_for_log(qr/segment scheduler: the segment extension of this database is at version 0\.1\.0, the library at 0\.2\.0/),
	'and says in the log why it runs no job');
my $runs = $node->safe_psql('postgres', 'SELECT count(*) FROM segment.runs');
sleep 3;
is($node->safe_psql('postgres', 'SELECT count(*) FROM segment.runs'), $runs, 'no job ran against 0.1.0\'s objects');
my $scheduler_pid = q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'segment scheduler' AND datname = 'postgres'};
my $scheduler = $node->safe_psql('postgres', $scheduler_pid);

# 4. the update, while the schedule is active
($ret, $stdout, $stderr) = $node->psql('postgres', 'ALTER EXTENSION segment UPDATE');
is($ret, 0, 'ALTER EXTENSION segment UPDATE');
like($stderr, qr/WARNING:  the history table of segmentation "altered" is not of version 0\.1\.0's shape: renamed public\.segment_old_\d+/,
	'a history table its owner altered is set aside, with a warning');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'segment'"), '0.2.0',
	'updated to 0.2.0');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION segment');
my $catalog = "$ENV{TESTDIR}/test/upgrade/catalog.sql";
my $updated = $node->safe_psql('postgres', "\\i $catalog");
my $fresh = $node->safe_psql('fresh', "\\i $catalog");
ok(length($fresh) > 10000, 'the catalog listing covers the extension (' . scalar(split /\n/, $fresh) . ' lines)');
is($updated, $fresh, 'every object of the updated database equals a fresh 0.2.0 install');

is($node->safe_psql('postgres', $state), $before{$state}, 'segmentations, runs, metrics and history kept');
is($node->safe_psql('postgres', $tables), $before{$tables}, 'the segment tables untouched');
is($node->safe_psql('postgres', $history{$_}[1]), $before{$_}, "the history of $_: the changes between its snapshots")
  for sort keys %history;
is($node->safe_psql('postgres',
	q{SELECT count(*) FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'segment')
	  AND classid = 'pg_class'::regclass AND objid IN (SELECT i.inhrelid FROM pg_inherits AS i JOIN segment.segmentations AS s
	  ON i.inhparent = s.history_table UNION SELECT history_table FROM segment.segmentations)}),
	'0', 'the new history tables are not members of the extension');
is($node->safe_psql('postgres',
	"SELECT md5(string_agg(format('%s/%s/%s', customer, segment_type, segment), ',' ORDER BY customer, segment_type))"
	  . " FROM segment.membership_as_of('full', '$first_refresh')"),
	$before{$first_snapshot}, 'the membership as of the oldest refresh kept, rebuilt from the log, is its snapshot');
is($node->safe_psql('postgres',
	q{SELECT (SELECT count(*) FROM pg_inherits WHERE inhparent = s.history_table) || ' partitions, '
	         || (SELECT count(*) FROM pg_class WHERE relname LIKE 'segment_old_%' AND relkind = 'p') || ' set aside'
	  FROM segment.segmentations AS s WHERE s.name = 'altered'}),
	'0 partitions, 1 set aside', 'its new history is empty, the old one kept');
my $old_table = $node->safe_psql('postgres', q{SELECT relname FROM pg_class WHERE relname LIKE 'segment_old_%' AND relkind = 'p'});
is($node->safe_psql('postgres', "SELECT count(*) FROM public.$old_table"), $altered_rows, 'with its rows');
is($node->safe_psql('postgres', "SELECT segment.refresh('altered') > 0"), 't', 'and the segmentation refreshes');
$node->safe_psql('postgres', "SELECT segment.drop_segmentation('altered')");
is($node->safe_psql('postgres', $schedule), $before{$schedule}, 'the schedule kept');
ok($node->poll_query_until('postgres',
	"SELECT count(*) >= 2 FROM segment.job_runs WHERE segmentation = 'ticker' AND status = 'succeeded'"
	  . " AND scheduled_for IS NOT NULL"),
	'the scheduler runs the job after the update');
is($node->safe_psql('postgres', $scheduler_pid), $scheduler, 'the same scheduler, not restarted');
$node->safe_psql('postgres', "SELECT segment.unschedule('ticker'); SELECT segment.drop_segmentation('ticker')");

# 5. the updated segmentations refresh, with 0.2.0's columns
is($node->safe_psql('postgres',
	"SELECT string_agg(name || '=' || segment.refresh(name), ',' ORDER BY name) FROM segment.segmentations"),
	$customers, 'every segmentation refreshes after the update, to as many customers');
is($node->safe_psql('postgres',
	"SELECT count(*) FILTER (WHERE max_customer_loss = 0.5 AND time_zone IS NOT NULL), count(*) FROM segment.segmentations"),
	'3|3', 'the new columns are filled');
is($node->safe_psql('postgres',
	"SELECT bool_and(n = 3) FROM (SELECT count(*) AS n FROM pg_inherits AS i JOIN segment.segmentations AS s"
	  . " ON i.inhparent = s.history_table GROUP BY s.name) AS h"),
	't', 'each history holds its refreshes and the new one');
cmp_ok($node->safe_psql('postgres', "SELECT count(*) FROM segment.attributions WHERE segmentation = 'full'"), '>', 0,
	'the attribution is recomputed');

# a segmentation of 0.1.0 predicts: its first refresh with predict on adds the columns
$node->safe_psql('postgres', "UPDATE segment.segmentations SET predict = true WHERE name = 'full'");
is($node->safe_psql('postgres', "SELECT segment.refresh('full') > 0"), 't', 'an updated segmentation refreshes with predict on');
is($node->safe_psql('postgres',
	"SELECT count(*) = count(repeat_purchases) + count(*) FILTER (WHERE frequency IS NULL OR monetary <= 0),"
	  . " count(p_alive) = count(repeat_purchases), count(predictive_segment) > 0 FROM public.full_segments"),
	't|t|t', 'its customers with a purchase have predictions');
is($node->safe_psql('postgres',
	"SELECT (SELECT count(*) > 0 FROM segment.attributions WHERE segmentation = 'full' AND segment_type = 'predictive'),"
	  . " (SELECT count(*) > 0 FROM segment.segment_summary WHERE segmentation = 'full' AND segment_type = 'predictive'"
	  . "  AND predicted_clv IS NOT NULL), (SELECT warning IS NULL FROM segment.job_runs WHERE segmentation = 'full'"
	  . "  ORDER BY run_id DESC LIMIT 1)"),
	't|t|t', 'the predictive segments are attributed and summarized');

# 6. pg_dump and restore of the updated database
$node->safe_psql('postgres', 'CREATE DATABASE restored');
my $dump = $node->basedir . '/updated.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('postgres'), '-f', $dump ], 'pg_dump of the updated database');
$node->command_ok([ 'pg_restore', '--exit-on-error', '-d', $node->connstr('restored'), $dump ], 'restored');
is($node->safe_psql('restored', $state), $node->safe_psql('postgres', $state), 'the restored catalog is the same');
is($node->safe_psql('restored', "SELECT segment.refresh('full') > 0"), 't', 'and refreshes');

$node->stop;
done_testing();
