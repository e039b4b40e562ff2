# The refresh writes its new tables page by page past shared buffers
# (src/refresh/row_writer.c).  Those pages must survive what pages written
# through shared buffers survive:
#  - a crash right after the commit (they are WAL-logged whole, or, with
#    wal_level = minimal, synced at commit);
#  - replay on a streaming standby, where the tables read the same;
#  - a checkpoint that begins while they are being written (the writer then
#    syncs the file itself).
# amcheck checks every heap page and index afterwards.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $check = q{
	SELECT count(*) || ' rows, ' || count(DISTINCT customer_id) || ' customers, '
	       || sum(frequency) || ' orders, '
	       || (SELECT count(*) FROM pg_inherits AS i, verify_heapam(i.inhrelid)
	           WHERE i.inhparent IN ('ops_segments'::regclass, 'ops_segments_history'::regclass))
	       || ' heap problems'
	FROM ops_segments;
};
my $check_indexes = q{
	SELECT count(bt_index_check(x.indexrelid, true)) FROM pg_inherits AS i JOIN pg_index AS x ON x.indrelid = i.inhrelid
	WHERE i.inhparent IN ('ops_segments'::regclass, 'ops_segments_history'::regclass);
};

sub setup
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{
		CREATE EXTENSION segment;
		CREATE EXTENSION amcheck;
		SELECT segment.generate_demo_data('d', 20000, seed => 3);
		SELECT segment.create_segmentation('ops', 'd.orders', 'customer_id', 'ordered_at', 'amount',
		                                   clusters => 3, as_of => '2026-01-01');
	});
}

# Primary with a streaming standby; crash right after a refresh.
my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', "shared_preload_libraries = 'segment'\nsegment.enabled = off\nwal_keep_size = '1GB'\n");
$primary->start;
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->append_conf('postgresql.conf', "shared_preload_libraries = 'segment'\nsegment.enabled = off\n");
$standby->start;

setup($primary);
$primary->safe_psql('postgres', "SELECT segment.refresh('ops')");
my $expected = $primary->safe_psql('postgres', $check);
like($expected, qr/^20000 rows, 20000 customers, \d+ orders, 0 heap problems$/, "refresh on the primary: $expected");

$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $check), $expected, 'the standby replays the pages the same');
$standby->safe_psql('postgres', $check_indexes);
pass('the standby\'s indexes hold every row');

$primary->stop('immediate');
$primary->start;
is($primary->safe_psql('postgres', $check), $expected, 'after a crash right after the commit, the same rows');
# the standby reconnects to the restarted primary
$primary->poll_query_until('postgres', "SELECT count(*) = 1 FROM pg_stat_replication")
  or die "the standby did not reconnect";
$primary->safe_psql('postgres', $check_indexes);
pass('after the crash, the indexes hold every row');

# A checkpoint running throughout the writes: the writer syncs the files it
# wrote (checkpoints back to back from another session while refreshing).
$primary->safe_psql('postgres', "ALTER SYSTEM SET log_min_messages = debug1; SELECT pg_reload_conf();");
my $log_offset = -s $primary->logfile;
my $checkpoints = $primary->background_psql('postgres');
$checkpoints->query_until(qr/started/, q{
	\echo started
	DO $$ BEGIN FOR i IN 1..200 LOOP CHECKPOINT; PERFORM pg_sleep(0.01); END LOOP; END $$;
});
$primary->safe_psql('postgres', "SELECT segment.refresh('ops'); SELECT segment.refresh('ops');");
$checkpoints->quit;
$primary->safe_psql('postgres', "ALTER SYSTEM RESET log_min_messages; SELECT pg_reload_conf();");
like(substr(slurp_file($primary->logfile), $log_offset), qr/a checkpoint began while "\w+" was written: syncing its \d+ pages/,
	'the writer synced the files a checkpoint may have missed');
$expected = $primary->safe_psql('postgres', $check);
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', $check), $expected, 'refreshes during checkpoints replay the same on the standby');
$standby->stop;
$primary->stop('immediate');
$primary->start;
is($primary->safe_psql('postgres', $check), $expected, 'and survive a crash');
$primary->stop;

# wal_level = minimal: the new tables are not WAL-logged but synced at commit.
my $minimal = PostgreSQL::Test::Cluster->new('minimal');
$minimal->init;
$minimal->append_conf('postgresql.conf',
	"shared_preload_libraries = 'segment'\nsegment.enabled = off\nwal_level = minimal\nmax_wal_senders = 0\n");
$minimal->start;
setup($minimal);
$minimal->safe_psql('postgres', "SELECT segment.refresh('ops')");
$expected = $minimal->safe_psql('postgres', $check);
$minimal->stop('immediate');
$minimal->start;
is($minimal->safe_psql('postgres', $check), $expected, 'wal_level = minimal: the same rows after a crash');
$minimal->safe_psql('postgres', $check_indexes);
pass('wal_level = minimal: the indexes hold every row after the crash');
$minimal->stop;

done_testing();
