# The library works with and without shared_preload_libraries, and reserves
# the "segment." settings prefix once loaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('load');
$node->init;
$node->start;

# not preloaded: CREATE EXTENSION and the functions load the library on demand
$node->safe_psql('postgres', 'CREATE EXTENSION segment');
is($node->safe_psql('postgres',
	"SELECT string_agg(s::text, ',' ORDER BY x) FROM (SELECT x, segment.quantile_score(x, 2) OVER () AS s FROM generate_series(1, 4) AS x) AS t"),
	'1,1,2,2', 'quantile_score works without shared_preload_libraries');
is($node->safe_psql('postgres', "SHOW shared_preload_libraries"), '', 'nothing preloaded');

# before the library is loaded a segment.* placeholder is accepted; once it is
# loaded in the session, an unknown segment.* setting is an error
my ($ret, $out, $err) = $node->psql('postgres',
	"SET segment.early = 1; SELECT segment.rfm_segment(5, 5, 5); SET segment.late = 1;");
isnt($ret, 0, 'unknown setting after load fails');
like($err, qr/invalid configuration parameter name "segment\.late"/, 'prefix reserved after load');

# preloaded: a misspelt setting in postgresql.conf is reported at start-up
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'segment'\nsegment.misspelt = on\n");
$node->restart;
is($node->safe_psql('postgres', "SHOW shared_preload_libraries"), 'segment', 'preloaded');
ok($node->log_contains(qr/invalid configuration parameter name "segment\.misspelt"/),
	'misspelt segment.* setting reported in the server log');
is($node->safe_psql('postgres',
	"SELECT segment.quantile_edges(x, 4)::text FROM generate_series(1, 8) AS x"),
	'{2,4,6}', 'quantile_edges works when preloaded');

# the extension drops cleanly, schema included, and comes back
$node->safe_psql('postgres', 'DROP EXTENSION segment');
is($node->safe_psql('postgres', "SELECT count(*) FROM pg_namespace WHERE nspname = 'segment'"),
	'0', 'DROP EXTENSION removes the segment schema');
$node->safe_psql('postgres', 'CREATE EXTENSION segment');
is($node->safe_psql('postgres', 'SELECT count(*) FROM segment.rfm_segment_map'), '125', 'map reinstalled');

# a relocation attempt is refused: the schema is fixed
($ret, $out, $err) = $node->psql('postgres', 'DROP EXTENSION segment; CREATE EXTENSION segment SCHEMA public');
isnt($ret, 0, 'CREATE EXTENSION ... SCHEMA other is refused');

$node->stop;
done_testing();
