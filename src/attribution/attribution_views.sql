-- Attribution by segment, materialized by each refresh of a segmentation with
-- touchpoints (segment._attribute, called by segment._refresh before its
-- swap) and read through segment.attribution_by_segment.
--
-- Each order of the attribution period (the segmentation window, or its last
-- attribution_period) is a conversion (one per order id when the segmentation
-- has them), worth its net amount.  Its path is the customer's touches in the
-- attribution_lookback before it (a touch at the same instant counts) and
-- after the customer's previous order, in time order; none: channel
-- "(none)".  Touches after a customer's last order, within the lookback
-- before as_of, form a non-converting path for the Markov model, which is
-- fitted per segment.  Spend is each channel's spend in the period, shared
-- among a segment type's segments in proportion to the channel's attributed
-- conversions under each model (to "(unattributed)" when it has none).

CREATE FUNCTION segment._attribute_scan(orders regclass, customer_column name, time_column name,
    amount_column name, order_id_column name, touchpoints regclass, touch_customer_column name,
    touch_time_column name, touch_channel_column name, contents regclass, as_of timestamptz,
    lower timestamptz, attributed_after timestamptz, attribution_lookback interval, half_life interval,
    result regclass)
    RETURNS int8
    AS 'MODULE_PATHNAME', 'attribute_scan'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._attribute_scan(regclass, name, name, name, name, regclass, name, name, name, regclass, timestamptz, timestamptz, timestamptz, interval, interval, regclass) IS
    'Internal: a refresh''s attribution by segment from one scan each of the new contents, the orders (the conversions: in (lower, as_of], attributed after attributed_after) and the touchpoints, written into the result table; returns the touches left out for a NULL customer or time. Errors with feature_not_supported when the SQL path must be used (views, other types, past segment.scan_memory).';

CREATE FUNCTION segment._attribution_by_segment(paths_query text, half_life interval,
    OUT segment_type text, OUT segment text, OUT model text, OUT channel text,
    OUT conversions float8, OUT revenue float8, OUT first_conversions float8)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'attribution_by_segment'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION segment._attribution_by_segment(text, interval) IS
    'Internal: the six attribution models over the paths a query gives (channels, touched_at, revenue, first_order, rfm, lifecycle, cluster and predictive segments, converted; no channels for a conversion without a touch), summed per segment type, segment, model and channel; the Markov model fitted per segment.';

-- The SQL path of the attribution, for what segment._attribute_scan does not
-- read: the conversions and paths built with SQL, then the six models over
-- them in C; the same rows.
CREATE FUNCTION segment._attribute_sql(s segment.segmentations, contents regclass, as_of timestamptz,
                                       lower timestamptz, attributed_after timestamptz) RETURNS int8
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    SET datestyle = 'ISO'   -- times go into the paths query as literals
    AS $$
DECLARE
    customer_type text := (SELECT format_type(atttypid, atttypmod) FROM pg_attribute
                           WHERE attrelid = contents AND attname = s.customer_column);
    skipped int8;
BEGIN
    PERFORM segment._internal_only('_attribute_sql');
    -- conversions: one per order (id), its net amount, whether it is the
    -- customer's first, whether it is in the attribution period.  Paths: each
    -- touch goes to the next conversion at or after it (touches sort before
    -- conversions of the same instant), if within the lookback and after the
    -- previous one; later touches within the lookback before as_of form the
    -- customer's non-converting path.  Then every conversion with its path
    -- (none: no touch) and every non-converting path, with the customer's
    -- segments, for the six models in C.
    INSERT INTO pg_temp.segment_attributed
    SELECT * FROM segment._attribution_by_segment(format($q$
        WITH conversions AS MATERIALIZED (
            SELECT row_number() OVER (ORDER BY customer, converted_at, key) AS conversion, customer, converted_at,
                   revenue, lag(converted_at) OVER w AS previous_at, row_number() OVER w = 1 AS first_order,
                   %12$L::timestamptz IS NULL OR converted_at > %12$L::timestamptz AS attributed
            FROM (SELECT r.customer, r.key, min(r.at) AS converted_at, sum(r.amount)::numeric AS revenue
                  FROM (SELECT o.%1$I::%2$s AS customer, %7$s AS key, o.%4$I::timestamptz AS at, o.%5$I AS amount
                        FROM %6$s AS o
                        WHERE o.%1$I IS NOT NULL AND isfinite(o.%4$I::timestamptz)
                          AND o.%4$I::timestamptz <= %10$L::timestamptz
                          AND (%11$L::timestamptz IS NULL OR o.%4$I::timestamptz > %11$L::timestamptz)) AS r
                  GROUP BY r.customer, r.key) AS orders
            -- at one instant, conversions go by order id (by position without ids)
            WINDOW w AS (PARTITION BY customer ORDER BY converted_at, key)
        ), events AS (
            SELECT t.%8$I::%2$s AS customer, t.%9$I::timestamptz AS at, coalesce(t.%13$I::text, '(unknown)') AS channel,
                   NULL::int8 AS conversion
            FROM %14$s AS t
            WHERE t.%8$I IS NOT NULL AND isfinite(t.%9$I::timestamptz) AND t.%9$I::timestamptz <= %10$L::timestamptz
            UNION ALL
            SELECT customer, converted_at, NULL, conversion FROM conversions
        ), grouped AS (
            -- from the latest event back, the conversions seen so far: a touch
            -- and the next conversion after it share the count
            -- (of conversions at one instant, the first by number takes the touches)
            SELECT e.*, count(e.conversion) OVER (PARTITION BY e.customer
                                                  ORDER BY e.at DESC, e.conversion IS NULL, e.conversion DESC
                                                  ROWS UNBOUNDED PRECEDING) AS g
            FROM events AS e
        ), assigned AS (
            SELECT customer, at, channel, max(conversion) OVER (PARTITION BY customer, g) AS next_conversion
            FROM grouped
        ), paths AS MATERIALIZED (
            SELECT a.customer, a.next_conversion AS conversion,
                   array_agg(a.channel ORDER BY a.at, a.channel COLLATE "C") AS channels,
                   array_agg(a.at ORDER BY a.at, a.channel COLLATE "C") AS touched_at
            FROM assigned AS a
            LEFT JOIN conversions AS c ON c.conversion = a.next_conversion
            WHERE a.channel IS NOT NULL
              AND (c.conversion IS NULL AND a.at > %10$L::timestamptz - %15$L::interval
                   OR c.conversion IS NOT NULL AND a.at >= c.converted_at - %15$L::interval
                      AND (c.previous_at IS NULL OR a.at > c.previous_at))
            GROUP BY a.customer, a.next_conversion
        )
        SELECT p.channels, p.touched_at, c.revenue, c.first_order, x.rfm_segment, x.lifecycle_segment,
               x.cluster::text, %16$s, true
        FROM conversions AS c LEFT JOIN paths AS p USING (conversion)
        JOIN %3$s AS x ON x.%1$I = c.customer
        WHERE c.attributed
        UNION ALL
        SELECT p.channels, p.touched_at, NULL, false, x.rfm_segment, x.lifecycle_segment, x.cluster::text, %16$s, false
        FROM paths AS p JOIN %3$s AS x ON x.%1$I = p.customer
        WHERE p.conversion IS NULL
        $q$,
        s.customer_column, customer_type, contents, s.time_column, s.amount_column, s.orders,
        -- without order ids each row is an order: its position tells two apart
        -- (views have no ctid: the row's number in the query's order)
        CASE WHEN s.order_id_column IS NOT NULL THEN format('o.%I', s.order_id_column)
             WHEN (SELECT relkind FROM pg_class WHERE oid = s.orders) IN ('r', 'm') THEN 'o.ctid'
             ELSE 'row_number() OVER ()' END,
        s.touch_customer_column, s.touch_time_column, as_of, lower, attributed_after, s.touch_channel_column,
        s.touchpoints, s.attribution_lookback,
        -- a table without predictions has no predictive segments
        CASE WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = contents AND attname = 'predictive_segment'
                          AND NOT attisdropped)
             THEN 'x.predictive_segment' ELSE 'NULL::text' END), s.half_life);
    -- touches without a customer or a finite time
    EXECUTE format('SELECT count(*) FROM %1$s WHERE %2$I IS NULL OR %3$I IS NULL OR NOT isfinite(%3$I::timestamptz)',
                   s.touchpoints, s.touch_customer_column, s.touch_time_column) INTO skipped;
    RETURN skipped;
END $$;
COMMENT ON FUNCTION segment._attribute_sql(segment.segmentations, regclass, timestamptz, timestamptz, timestamptz) IS
    'Internal: the SQL path of a refresh''s attribution (conversions and paths built with SQL), writing the same rows as segment._attribute_scan into pg_temp.segment_attributed; returns the touches left out for a NULL customer or time.';

-- The attribution rows of a refresh: computed from the sources and the new
-- contents (customer -> segments), written into segment.attributions.
CREATE FUNCTION segment._attribute(s segment.segmentations, contents regclass, refreshed timestamptz,
                                   as_of timestamptz) RETURNS int8
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    lower timestamptz := CASE WHEN s.lookback IS NOT NULL THEN as_of - s.lookback END;
    -- the attribution period, when shorter than the window: earlier orders
    -- still end the paths before them and decide first orders
    attributed_after timestamptz := CASE WHEN s.attribution_period IS NOT NULL
                                          AND (lower IS NULL OR as_of - s.attribution_period > lower)
                                         THEN as_of - s.attribution_period END;
    skipped int8;
BEGIN
    PERFORM segment._internal_only('_attribute');
    PERFORM segment._check_readable(s.touchpoints, 'touchpoints');
    PERFORM segment._column(s.touchpoints, s.touch_channel_column, 'touch channel');
    -- pg_temp.segment_attributed: made empty for this refresh by refresh_entry.c,
    -- as a restricted refresh may create no temporary table

    -- the six models per segment from one scan of each source, in C; or in SQL
    -- for views and the types the scan does not read
    BEGIN
        skipped := segment._attribute_scan(s.orders, s.customer_column, s.time_column, s.amount_column,
                                           s.order_id_column, s.touchpoints, s.touch_customer_column,
                                           s.touch_time_column, s.touch_channel_column, contents, as_of, lower,
                                           attributed_after, s.attribution_lookback, s.half_life, 'pg_temp.segment_attributed'::regclass);
    EXCEPTION WHEN feature_not_supported THEN
        skipped := NULL;
    END;
    IF skipped IS NULL THEN
        skipped := segment._attribute_sql(s, contents, as_of, lower, attributed_after);
    END IF;

    -- each channel's spend in the period, shared by attributed conversions;
    -- where a model credits a channel nothing, its spend goes to the segment
    -- "(unattributed)", so that every model and segment type accounts for all of it
    EXECUTE format($q$
        INSERT INTO segment.attributions
        WITH spend AS (
            SELECT %1$s AS channel, sum(%2$s)::numeric AS spend
            FROM %3$s
            WHERE %4$s
            GROUP BY 1
        )
        SELECT $1, $2, a.segment_type, a.segment, a.model, a.channel, a.conversions, a.revenue,
               a.first_conversions,
               coalesce(sp.spend * (a.conversions / nullif(sum(a.conversions) OVER (PARTITION BY a.segment_type, a.model, a.channel), 0))::numeric, 0)
        FROM pg_temp.segment_attributed AS a LEFT JOIN spend AS sp USING (channel)
        UNION ALL
        SELECT $1, $2, t.segment_type, '(unattributed)', m.model, sp.channel, 0, 0, 0, sp.spend
        FROM spend AS sp
        CROSS JOIN (SELECT DISTINCT segment_type FROM pg_temp.segment_attributed) AS t
        CROSS JOIN unnest(ARRAY['first_touch', 'last_touch', 'linear', 'position_based', 'time_decay', 'markov']) AS m(model)
        WHERE sp.spend <> 0 AND sp.channel IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM pg_temp.segment_attributed AS a
                          WHERE a.segment_type = t.segment_type AND a.model = m.model AND a.channel = sp.channel)
        $q$,
        CASE WHEN s.spend IS NULL THEN 'NULL::text' ELSE format('%I::text', s.spend_channel_column) END,
        CASE WHEN s.spend IS NULL THEN '0' ELSE format('%I', s.spend_cost_column) END,
        CASE WHEN s.spend IS NULL THEN '(SELECT) AS nothing' ELSE s.spend::text END,
        CASE WHEN s.spend IS NULL THEN 'false'
             ELSE format('%1$I::timestamptz <= $3 AND ($4::timestamptz IS NULL OR %1$I::timestamptz > $4)',
                         s.spend_day_column) END)
    USING s.name, refreshed, as_of, coalesce(attributed_after, lower);
    RETURN skipped;
END $$;
COMMENT ON FUNCTION segment._attribute(segment.segmentations, regclass, timestamptz, timestamptz) IS
    'Internal: computes a refresh''s rows of segment.attributions from the sources and the new segment contents; returns the touches left out for a NULL customer or time.';

CREATE VIEW segment.attribution_by_segment WITH (security_barrier) AS
SELECT a.segmentation, a.segment_type, a.segment, a.model, a.channel, a.conversions, a.revenue, a.spend,
       a.revenue / nullif(a.spend, 0) AS roas,
       a.spend / nullif(a.first_conversions, 0)::numeric AS cac,
       a.refreshed_at
FROM segment.attributions AS a
JOIN segment.segmentations AS s ON s.name = a.segmentation
WHERE pg_has_role(current_user, s.owner, 'MEMBER') OR pg_has_role(current_user, 'segment_reader', 'MEMBER');
COMMENT ON VIEW segment.attribution_by_segment IS 'Per segmentation with touchpoints, segment type, segment, attribution model and channel: attributed conversions, revenue, allocated spend, ROAS and CAC of the last refresh.';
COMMENT ON COLUMN segment.attribution_by_segment.segmentation IS 'Segmentation.';
COMMENT ON COLUMN segment.attribution_by_segment.segment_type IS 'rfm, lifecycle, cluster or predictive.';
COMMENT ON COLUMN segment.attribution_by_segment.segment IS 'Segment of the converting customers (as of the refresh); (unattributed) for the spend of a channel the model credits nothing.';
COMMENT ON COLUMN segment.attribution_by_segment.model IS 'first_touch, last_touch, linear, time_decay, position_based or markov.';
COMMENT ON COLUMN segment.attribution_by_segment.channel IS 'Touch channel; (none) for conversions without a touch, (unknown) for touches without a channel.';
COMMENT ON COLUMN segment.attribution_by_segment.conversions IS 'Conversions (orders) credited to the channel.';
COMMENT ON COLUMN segment.attribution_by_segment.revenue IS 'Net revenue of those conversions credited to the channel (refunds negative).';
COMMENT ON COLUMN segment.attribution_by_segment.spend IS 'The channel''s spend in the attribution period, shared among the segment type''s segments by attributed conversions; all of it in segment (unattributed) when the model credits the channel nothing.';
COMMENT ON COLUMN segment.attribution_by_segment.roas IS 'revenue / spend (NULL without spend).';
COMMENT ON COLUMN segment.attribution_by_segment.cac IS 'spend / attributed first-order conversions (NULL without any).';
COMMENT ON COLUMN segment.attribution_by_segment.refreshed_at IS 'Refresh that computed the row.';
GRANT SELECT ON segment.attribution_by_segment TO PUBLIC;
GRANT SELECT ON segment.attribution_by_segment TO segment_reader;
