-- Demo and test data: a deterministic generator of realistic orders,
-- touchpoints, marketing spend and carts.

CREATE FUNCTION segment.demo_random(seed int8, stream int4, key int8) RETURNS float8
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT ((pg_catalog.hashint8extended(key, seed # (stream::int8 * 2654435761)) >> 11)
                  & 9007199254740991)::float8 / 9007199254740992.0::float8 $$;   -- exact types: no operator of the caller's fits better
COMMENT ON FUNCTION segment.demo_random(int8, int4, int8) IS
    'Deterministic pseudo-random number in [0, 1) for (seed, stream, key): the same inputs always give the same number, whatever the plan. Used by segment.generate_demo_data.';

CREATE FUNCTION segment.generate_demo_data(
    schema name DEFAULT 'segment_demo',
    customers int4 DEFAULT 10000,
    seed int8 DEFAULT 42,
    mean_orders float8 DEFAULT 5,
    end_date date DEFAULT '2025-12-31',
    years int4 DEFAULT 3,
    touches_per_order float8 DEFAULT 1.5,
    replace boolean DEFAULT false)
RETURNS TABLE (relation text, rows int8)
LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
SET search_path = pg_catalog, pg_temp
-- interval arithmetic on timestamptz follows the session's time zone (DST):
-- generate in UTC so that a seed gives the same instants everywhere
SET TimeZone = 'UTC'
AS $fn$
DECLARE
    span_end timestamptz := (end_date + 1)::timestamp AT TIME ZONE 'UTC';
    span_start timestamptz := (end_date + 1 - 365 * years)::timestamp AT TIME ZONE 'UTC';
    -- Lomax (Pareto II) tail 1.8: most customers order once or twice, a few hundreds of times
    order_scale float8 := (mean_orders - 0.6) / 1.25;
    tbl text;
BEGIN
    IF schema IS NULL OR customers IS NULL OR seed IS NULL OR mean_orders IS NULL
       OR end_date IS NULL OR years IS NULL OR touches_per_order IS NULL OR replace IS NULL THEN
        RAISE EXCEPTION 'generate_demo_data arguments must not be null'
            USING ERRCODE = 'null_value_not_allowed',
                  DETAIL = 'Every argument has a default; a NULL was passed explicitly.',
                  HINT = 'Leave the argument out to use its default.';
    END IF;
    IF schema = '' THEN
        RAISE EXCEPTION 'the schema name must not be empty'
            USING ERRCODE = 'invalid_schema_name',
                  HINT = 'Pass a schema name such as ''segment_demo''.';
    END IF;
    IF customers < 1 THEN
        RAISE EXCEPTION 'customers must be at least 1'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('customers was %s.', customers),
                  HINT = 'Pass the number of customers to generate, for example 10000.';
    END IF;
    IF mean_orders < 1 OR mean_orders > 100 THEN
        RAISE EXCEPTION 'mean_orders must be between 1 and 100'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('mean_orders was %s.', mean_orders),
                  HINT = 'Use 10 for the benchmark shape (10 orders per customer).';
    END IF;
    IF years < 1 OR years > 50 THEN
        RAISE EXCEPTION 'years must be between 1 and 50'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('years was %s.', years),
                  HINT = 'Pass how many years of history to generate, for example 3.';
    END IF;
    IF touches_per_order < 0 OR touches_per_order > 20 THEN
        RAISE EXCEPTION 'touches_per_order must be between 0 and 20'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('touches_per_order was %s.', touches_per_order),
                  HINT = 'Pass 0 to skip touchpoints, or an average such as 1.5.';
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = schema) THEN
        EXECUTE format('CREATE SCHEMA %I', schema);
    END IF;
    FOREACH tbl IN ARRAY ARRAY['orders', 'touchpoints', 'spend', 'carts'] LOOP
        IF to_regclass(format('%I.%I', schema, tbl)) IS NOT NULL THEN
            IF NOT replace THEN
                RAISE EXCEPTION 'relation %.% already exists', schema, tbl
                    USING ERRCODE = 'duplicate_table',
                          DETAIL = 'generate_demo_data creates orders, touchpoints, spend and carts and never overwrites a table silently.',
                          HINT = 'Pass replace => true to drop and regenerate them, or choose another schema.';
            END IF;
            EXECUTE format('DROP TABLE %I.%I', schema, tbl);
        END IF;
    END LOOP;

    -- one hidden profile per customer: when they arrive, how long they stay,
    -- how often they buy and how much they spend
    IF to_regclass('pg_temp.segment_demo_profile') IS NOT NULL THEN
        DROP TABLE pg_temp.segment_demo_profile;
    END IF;
    CREATE TEMP TABLE segment_demo_profile AS
    SELECT c AS customer_id,
           first_at,
           least(first_at + make_interval(days => (-400 * ln(1 - segment.demo_random(seed, 2, c)))::int4),
                 span_end - interval '1 second') AS active_end,
           least(500, 1 + floor(order_scale * (power(1 - segment.demo_random(seed, 3, c), -1 / 1.8) - 1)))::int4 AS n_orders,
           ln(35) + 0.6 * sqrt(-2 * ln(1 - segment.demo_random(seed, 4, c))) * cos(2 * pi() * segment.demo_random(seed, 5, c)) AS log_amount
    FROM generate_series(1, customers) AS c,
         LATERAL (SELECT span_start + (span_end - span_start) * sqrt(segment.demo_random(seed, 1, c)) AS first_at) AS f;

    EXECUTE format($q$
        CREATE TABLE %1$I.orders AS
        WITH o AS (
            SELECT p.customer_id, p.customer_id::int8 * 1000 + i AS order_id,
                   CASE WHEN i = 1 THEN p.first_at
                        ELSE p.first_at + (p.active_end - p.first_at) * segment.demo_random($1, 10, p.customer_id::int8 * 1000 + i) END AS t,
                   greatest(1, round(exp(p.log_amount + 0.5 * sqrt(-2 * ln(1 - segment.demo_random($1, 11, p.customer_id::int8 * 1000 + i)))
                                                      * cos(2 * pi() * segment.demo_random($1, 12, p.customer_id::int8 * 1000 + i)))::numeric, 2)) AS amount
            FROM pg_temp.segment_demo_profile AS p, generate_series(1, p.n_orders) AS i),
        seasonal AS (
            -- a fifth of orders move into the Nov 20 .. Dec 20 peak when the customer is active then
            SELECT o.customer_id, o.order_id, o.amount,
                   CASE WHEN segment.demo_random($1, 13, o.order_id) < 0.2
                             AND peak BETWEEN p.first_at AND p.active_end THEN peak ELSE o.t END AS ordered_at
            FROM o JOIN pg_temp.segment_demo_profile AS p USING (customer_id),
                 LATERAL (SELECT (make_date(extract(year FROM o.t AT TIME ZONE 'UTC')::int4, 11, 20)::timestamp AT TIME ZONE 'UTC')
                                 + interval '30 days' * segment.demo_random($1, 14, o.order_id) AS peak) AS s)
        SELECT order_id, customer_id::int8 AS customer_id, ordered_at, amount::numeric(12,2) AS amount
        FROM seasonal
        UNION ALL
        -- about 5%% of orders are partly or fully refunded later: a negative amount on the same order id
        SELECT order_id, customer_id, ordered_at + interval '1 day' * (1 + 29 * segment.demo_random($1, 16, order_id)),
               (-round((amount * (0.25 + 0.75 * segment.demo_random($1, 17, order_id)))::numeric, 2))::numeric(12,2)
        FROM seasonal
        WHERE segment.demo_random($1, 15, order_id) < 0.05
          AND ordered_at + interval '1 day' * (1 + 29 * segment.demo_random($1, 16, order_id)) < $2
        $q$, schema) USING seed, span_end;

    EXECUTE format($q$
        CREATE TABLE %1$I.touchpoints AS
        WITH converting AS (
            -- touches in the two weeks before each order, more of them close to it
            SELECT o.customer_id, o.ordered_at - interval '14 days' * power(segment.demo_random($1, 21, o.order_id * 64 + j), 2) AS touched_at,
                   o.order_id * 64 + j AS k
            FROM %1$I.orders AS o,
                 generate_series(1, floor(2 * $2 * segment.demo_random($1, 20, o.order_id))::int4) AS j
            WHERE o.amount > 0),
        retention AS (
            -- campaigns that reach a third of customers after they stopped buying
            SELECT p.customer_id::int8, p.active_end + (($3 - interval '1 second') - p.active_end) * segment.demo_random($1, 23, p.customer_id::int8 * 8 + j) AS touched_at,
                   -(p.customer_id::int8 * 8 + j) AS k
            FROM pg_temp.segment_demo_profile AS p, generate_series(1, 3) AS j
            WHERE $2 > 0 AND segment.demo_random($1, 22, p.customer_id::int8 * 8 + j) < 0.1),
        prospects AS (
            -- people who were reached but never bought: ids above the customers
            SELECT ($4 + p)::int8 AS customer_id, $5 + ($3 - $5) * segment.demo_random($1, 25, p * 8 + j) AS touched_at,
                   -($4::int8 * 8 + p * 8 + j) AS k
            FROM generate_series(1, ($4 / 5)::int4) AS p, generate_series(1, 1 + floor(3 * segment.demo_random($1, 24, p))::int4) AS j
            WHERE $2 > 0)
        SELECT customer_id, touched_at,
               CASE WHEN u < 0.22 THEN 'paid_search' WHEN u < 0.40 THEN 'paid_social' WHEN u < 0.60 THEN 'email'
                    WHEN u < 0.75 THEN 'organic' WHEN u < 0.87 THEN 'direct' WHEN u < 0.94 THEN 'affiliate'
                    ELSE 'referral' END AS channel
        FROM (SELECT customer_id, touched_at, segment.demo_random($1, 26, k) AS u FROM converting
              UNION ALL SELECT customer_id, touched_at, segment.demo_random($1, 27, k) FROM retention
              UNION ALL SELECT customer_id, touched_at, segment.demo_random($1, 28, k) FROM prospects) AS t
        $q$, schema) USING seed, touches_per_order, span_end, customers, span_start;

    EXECUTE format($q$
        CREATE TABLE %1$I.spend AS
        SELECT c.channel, d::date AS day,
               round((c.base * ($2 / 10000.0) * (1 + 0.35 * cos(2 * pi() * (extract(doy FROM d) - 340) / 365))
                      * (0.8 + 0.4 * segment.demo_random($1, 30 + c.n, (d::date - date '2000-01-01'))))::numeric, 2)::numeric(12,2) AS cost
        FROM (VALUES (1, 'paid_search', 300), (2, 'paid_social', 250), (3, 'email', 40),
                     (4, 'affiliate', 80), (5, 'referral', 30)) AS c(n, channel, base),
             generate_series($3::timestamp, $4::timestamp - interval '1 day', interval '1 day') AS d
        $q$, schema) USING seed, customers, (span_start AT TIME ZONE 'UTC'), (span_end AT TIME ZONE 'UTC');

    EXECUTE format($q$
        CREATE TABLE %1$I.carts AS
        -- carts shortly before 40%% of orders, and carts left behind by 15%% of customers
        SELECT customer_id, ordered_at - interval '3 hours' * segment.demo_random($1, 41, order_id) AS added_at
        FROM %1$I.orders WHERE amount > 0 AND segment.demo_random($1, 40, order_id) < 0.4
        UNION ALL
        SELECT customer_id::int8, active_end + least(interval '30 days', $2 - active_end - interval '1 second') * segment.demo_random($1, 43, customer_id)
        FROM pg_temp.segment_demo_profile WHERE segment.demo_random($1, 42, customer_id) < 0.15
        $q$, schema) USING seed, span_end;

    DROP TABLE pg_temp.segment_demo_profile;

    FOREACH tbl IN ARRAY ARRAY['orders', 'touchpoints', 'spend', 'carts'] LOOP
        EXECUTE format('ANALYZE %I.%I', schema, tbl);
        EXECUTE format('SELECT %L::text, count(*) FROM %I.%I', format('%I.%I', schema, tbl), schema, tbl)
            INTO relation, rows;
        RETURN NEXT;
    END LOOP;
    EXECUTE format('CREATE INDEX ON %I.orders (customer_id)', schema);
    EXECUTE format('CREATE INDEX ON %I.touchpoints (customer_id)', schema);
    EXECUTE format('COMMENT ON TABLE %I.orders IS %L', schema,
                   'Demo orders from segment.generate_demo_data (seed ' || seed || '): one row per order, refunds as negative amounts on the same order_id.');
    EXECUTE format('COMMENT ON TABLE %I.touchpoints IS %L', schema, 'Demo marketing touches: customer_id, touched_at, channel.');
    EXECUTE format('COMMENT ON TABLE %I.spend IS %L', schema, 'Demo daily marketing spend per paid channel (organic and direct cost nothing).');
    EXECUTE format('COMMENT ON TABLE %I.carts IS %L', schema, 'Demo cart events: customer_id, added_at.');
END
$fn$;
COMMENT ON FUNCTION segment.generate_demo_data(name, int4, int8, float8, date, int4, float8, boolean) IS
    'Creates deterministic demo tables <schema>.orders, touchpoints, spend and carts: heavy-tailed order counts, log-normal amounts, 5% refunds, churn, a November-December peak. Same seed, same rows. Refuses to overwrite existing tables unless replace => true.';
