# Security of scheduled refreshes: a job worker connects as the bootstrap
# superuser, yet the owner's code it runs (here a function in the view the
# segmentation reads) runs as the owner in a security-restricted operation:
# it can neither reset the role and act as the superuser, nor plant a
# temporary pg_class, nor delete another role's segmentation (the 0.1.0
# audit's findings 1 and 4, through the scheduler).  Every wait polls with a
# deadline.
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

$node->stop;
done_testing();
