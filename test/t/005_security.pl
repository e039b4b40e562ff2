# Security of scheduled refreshes: a job worker connects as the bootstrap
# superuser, yet the owner's code it runs (here a function in the view the
# segmentation reads) runs as the owner in a security-restricted operation:
# it can neither reset the role and act as the superuser, nor plant a
# temporary pg_class, nor delete another role's segmentation (the 0.1.0
# audit's findings 1 and 4, through the scheduler).  And what takes two
# sessions or a database of one's own: holding off another role's refresh,
# and a database owner's search_path reaching the workers.  Every wait polls
# with a deadline.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('security');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'segment'
segment.naptime = 1
});
$node->start;

$node->safe_psql('postgres', q{
	CREATE EXTENSION segment;
	CREATE ROLE alice LOGIN;
	CREATE ROLE bob LOGIN;
	CREATE SCHEMA alice AUTHORIZATION alice;
	CREATE SCHEMA bob AUTHORIZATION bob;
	SET ROLE bob;
	CREATE TABLE bob.orders AS SELECT 1::int8 AS customer_id, '2026-01-01'::timestamptz AS ordered_at, 10::numeric AS amount;
	SELECT segment.create_segmentation('bobseg', 'bob.orders', 'customer_id', 'ordered_at', 'amount',
	                                   clusters => 0, target_table => 'bob.bob_segments');
	RESET ROLE;
	SET ROLE alice;
	CREATE TABLE alice.orders AS
	    SELECT c::int8 AS customer_id, '2026-01-01'::timestamptz AS ordered_at, 10::numeric AS amount
	    FROM generate_series(1, 10) AS c;
	CREATE TABLE alice.log (attempt text, outcome text);
	CREATE FUNCTION alice.evil() RETURNS bool LANGUAGE plpgsql AS $$
	BEGIN
	    BEGIN
	        PERFORM set_config('role', 'none', true);
	        INSERT INTO alice.log VALUES ('reset role', 'now ' || current_user);
	    EXCEPTION WHEN OTHERS THEN
	        INSERT INTO alice.log VALUES ('reset role', SQLERRM);
	    END;
	    IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
	        EXECUTE 'ALTER ROLE alice SUPERUSER';
	    END IF;
	    BEGIN
	        CREATE TEMP TABLE pg_class (oid oid);
	        INSERT INTO alice.log VALUES ('temp pg_class', 'created');
	    EXCEPTION WHEN OTHERS THEN
	        INSERT INTO alice.log VALUES ('temp pg_class', SQLERRM);
	    END;
	    BEGIN
	        PERFORM segment.drop_segmentation('bobseg');
	        INSERT INTO alice.log VALUES ('drop bobseg', 'dropped');
	    EXCEPTION WHEN OTHERS THEN
	        INSERT INTO alice.log VALUES ('drop bobseg', SQLERRM);
	    END;
	    INSERT INTO alice.log VALUES ('identity', current_user);
	    RETURN true;
	END $$;
	CREATE VIEW alice.v AS SELECT * FROM alice.orders WHERE (SELECT alice.evil());
	SELECT segment.create_segmentation('aliceseg', 'alice.v', 'customer_id', 'ordered_at', 'amount',
	                                   clusters => 0, target_table => 'alice.alice_segments');
	TRUNCATE alice.log;
	SELECT segment.schedule('aliceseg', '1 second');
});

ok($node->poll_query_until('postgres',
	"SELECT count(*) >= 2 FROM segment.job_runs WHERE segmentation = 'aliceseg' AND status = 'succeeded'"),
	'the scheduled refresh of the view runs');
is($node->safe_psql('postgres', 'SELECT rolsuper FROM pg_roles WHERE rolname = \'alice\''), 'f',
	'the owner did not become superuser through a scheduled refresh');
is($node->safe_psql('postgres',
	"SELECT string_agg(DISTINCT attempt || ': ' || outcome, E'\\n' ORDER BY attempt || ': ' || outcome) FROM alice.log"),
	join("\n",
		'drop bobseg: must be the owner of segmentation "bobseg"',
		'identity: alice',
		'reset role: cannot set parameter "role" within security-definer function',
		'temp pg_class: cannot create temporary table within security-restricted operation'),
	'the owner\'s code ran as the owner, restricted, in every scheduled run');
is($node->safe_psql('postgres', "SELECT count(*) FROM segment.segmentations WHERE name = 'bobseg'"), '1',
	'another role\'s segmentation survives');
is($node->safe_psql('postgres', "SELECT count(*) FROM bob.bob_segments"), '1',
	'and so does its table');

# F3 of the review: the lock that keeps two refreshes of one segmentation
# apart is a row lock on its catalog row, which row-level security keeps
# other roles from taking (an advisory lock could be taken by anyone)
$node->safe_psql('postgres', 'SELECT segment.unschedule(\'aliceseg\')');
my $squatter = $node->background_psql('postgres');
$squatter->query_safe(q{
	SET ROLE alice;
	SELECT pg_advisory_lock(hashtext('segment.refresh'), hashtext('bobseg'));
	BEGIN;
	SELECT name FROM segment.segmentations WHERE name = 'bobseg' FOR NO KEY UPDATE;
});
is($node->safe_psql('postgres', "SET ROLE bob; SELECT segment.refresh('bobseg')"), '1',
	'another role cannot hold off a segmentation\'s refresh');
$squatter->quit;

# F1b: a database owner sets the database's search_path to a schema with an
# operator of hers; the extension's workers are superusers, and resolve
# every name in pg_catalog first
$node->safe_psql('postgres', q{
	CREATE ROLE carol LOGIN;
	CREATE DATABASE carols OWNER carol;
});
$node->safe_psql('carols', q{
	CREATE EXTENSION segment;
	SET ROLE carol;
	CREATE SCHEMA carol;
	CREATE TABLE carol.orders AS SELECT 1::int8 AS customer_id, '2026-01-01'::timestamptz AS ordered_at, 1::numeric AS amount;
	SELECT segment.create_segmentation('carolseg', 'carol.orders', 'customer_id', 'ordered_at', 'amount',
	                                   clusters => 0, target_table => 'carol.segs');
	CREATE FUNCTION carol.teq(text, text) RETURNS bool LANGUAGE plpgsql AS $$
	BEGIN
	    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
	        EXECUTE 'ALTER ROLE carol SUPERUSER';
	    END IF;
	    RETURN $1 OPERATOR(pg_catalog.=) $2;
	END $$;
	CREATE OPERATOR carol.= (LEFTARG = text, RIGHTARG = text, FUNCTION = carol.teq);
	ALTER DATABASE carols SET search_path = carol, pg_catalog;
	SELECT segment.schedule('carolseg', '1 second');
});
# a failed manual refresh (its run row is written by a worker) and scheduled runs
$node->psql('carols', "SET ROLE carol; DROP TABLE carol.orders; SELECT segment.refresh('carolseg')");
# (this test's own sessions are superusers too: they name the catalog's operators)
ok($node->poll_query_until('carols',
	"SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>=) 2 FROM segment.job_runs"
	  . " WHERE segmentation OPERATOR(pg_catalog.=) 'carolseg' AND status OPERATOR(pg_catalog.=) 'failed'"),
	'the workers logged the failed runs');
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'carol'"), 'f',
	'a database owner\'s search_path gives the workers none of her operators');

# nor can her database's settings take the workers' identity or stop them
$node->safe_psql('carols', q{
	ALTER DATABASE carols RESET search_path;
	CREATE ROLE dave LOGIN;
	GRANT CREATE ON DATABASE carols TO dave;
	SET ROLE dave;
	CREATE SCHEMA dave;
	CREATE TABLE dave.orders AS SELECT 1::int8 AS customer_id, '2026-01-01'::timestamptz AS ordered_at, 1::numeric AS amount;
	SELECT segment.create_segmentation('daveseg', 'dave.orders', 'customer_id', 'ordered_at', 'amount',
	                                   clusters => 0, target_table => 'dave.segs');
	SELECT segment.schedule('daveseg', '1 second');
	RESET ROLE;
	SET ROLE carol;
	ALTER DATABASE carols SET role = 'carol';
	ALTER DATABASE carols SET default_transaction_read_only = on;
});
# the scheduler starts again, with the settings
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'segment scheduler' AND datname = 'carols'");
my $since = $node->safe_psql('postgres', 'SELECT now()');
my $runs = 0;
for (1 .. 60)
{
	# (this test's sessions get carol's settings too: it takes its own identity back)
	$runs = $node->safe_psql('carols',
		"SET ROLE postgres; SET default_transaction_read_only = off; SELECT count(*) FROM segment.runs"
		  . " WHERE segmentation = 'daveseg' AND status = 'succeeded' AND started_at > '$since'");
	last if $runs >= 2;
	sleep 1;
}
cmp_ok($runs, '>=', 2, 'another role\'s scheduled refreshes go on whatever the database owner sets');
$node->safe_psql('postgres', 'ALTER DATABASE carols RESET ALL');

$node->stop;
done_testing();
