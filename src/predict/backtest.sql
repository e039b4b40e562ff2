-- Customer summaries from an orders table, and the backtest of the
-- buy-till-you-die models on it: fitted on the orders up to a date, compared
-- with what the customers bought after it.  Both run as the caller, on what
-- the caller may read.

CREATE FUNCTION segment._summary_unit_days(orders regclass, customer_column name, time_column name,
                                           amount_column name, calibration_end date, unit interval) RETURNS float8
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    days float8;
BEGIN
    IF orders IS NULL OR customer_column IS NULL OR time_column IS NULL OR amount_column IS NULL
       OR calibration_end IS NULL OR unit IS NULL THEN
        RAISE EXCEPTION 'customer summaries: no argument may be NULL'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Pass the orders, their customer, time and amount columns, the last day of the calibration period and a time unit.';
    END IF;
    PERFORM segment._check_readable(orders, 'orders');
    PERFORM segment._column(orders, customer_column, 'customer');
    PERFORM segment._check_type(orders, time_column, 'time',
                                ARRAY['timestamptz', 'timestamp', 'date']::regtype[]);
    PERFORM segment._check_type(orders, amount_column, 'amount',
                                ARRAY['numeric', 'int2', 'int4', 'int8', 'float4', 'float8']::regtype[]);
    days := extract(epoch FROM unit) / 86400;
    IF extract(month FROM unit) <> 0 OR extract(year FROM unit) <> 0 OR NOT days > 0 THEN
        RAISE EXCEPTION 'customer summaries: the unit % is not a positive number of days', unit
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = CASE WHEN days > 0 THEN 'Months and years have no fixed length in days.'
                                ELSE 'The times are counted in units of this length.' END,
                  HINT = 'Use ''1 day'' or ''7 days''.';
    END IF;
    RETURN days;
END $$;
COMMENT ON FUNCTION segment._summary_unit_days(regclass, name, name, name, date, interval) IS
    'Internal: checks the arguments of customer_summary and btyd_backtest (the caller may read the orders, the columns exist with usable types, the unit is a positive number of days) and returns the unit in days.';

CREATE FUNCTION segment.customer_summary(orders regclass, customer_column name, time_column name, amount_column name,
                                         calibration_end date, unit interval DEFAULT '1 day')
    RETURNS TABLE (customer text, x float8, t_x float8, "T" float8, mean_value float8, first_purchase date,
                   last_purchase date)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    days float8 := segment._summary_unit_days(orders, customer_column, time_column, amount_column,
                                              calibration_end, unit);
BEGIN
    -- orders are grouped by day (in the session's time zone): the orders of a
    -- day are one purchase when their net amount is positive; the first
    -- purchase's value is left out of the mean, refunds after it count in it
    RETURN QUERY EXECUTE format($q$
        WITH days AS (
            SELECT o.%1$I::text AS customer, o.%2$I::date AS day, sum(o.%3$I)::numeric AS amount
            FROM %4$s AS o
            WHERE o.%1$I IS NOT NULL AND o.%2$I IS NOT NULL AND o.%3$I IS NOT NULL AND o.%2$I::date <= $1
            GROUP BY 1, 2),
        firsts AS (
            SELECT DISTINCT ON (d.customer) d.customer, d.day AS first_day
            FROM days AS d WHERE d.amount > 0 ORDER BY d.customer, d.day)
        SELECT f.customer,
               (count(*) FILTER (WHERE d.amount > 0) - 1)::float8,
               ((max(d.day) FILTER (WHERE d.amount > 0) - f.first_day) / $2)::float8,
               (($1 - f.first_day) / $2)::float8,
               CASE WHEN count(*) FILTER (WHERE d.amount > 0) > 1
                         AND sum(d.amount) FILTER (WHERE d.day > f.first_day) > 0
                    THEN (sum(d.amount) FILTER (WHERE d.day > f.first_day)
                          / (count(*) FILTER (WHERE d.amount > 0) - 1))::float8 END,
               f.first_day, max(d.day) FILTER (WHERE d.amount > 0)
        FROM firsts AS f JOIN days AS d ON d.customer = f.customer AND d.day >= f.first_day
        GROUP BY f.customer, f.first_day
        $q$, customer_column, time_column, amount_column, orders)
    USING calibration_end, days;
END $$;
COMMENT ON FUNCTION segment.customer_summary(regclass, name, name, name, date, interval) IS
    'One row per customer who made a purchase up to calibration_end (inclusive): x repeat purchases, t_x the time from the first purchase to the last, T from the first purchase to calibration_end, in units of unit (whole days); mean_value the mean value of the repeat purchases (NULL without any, or when refunds leave them at zero or less). The orders of a day (in the session''s time zone) are one purchase when their net amount is positive. Reads the orders as the caller.';

CREATE FUNCTION segment.btyd_backtest(orders regclass, customer_column name, time_column name, amount_column name,
                                      calibration_end date, holdout_end date, unit interval DEFAULT '1 day')
    RETURNS TABLE (model text, repeat_purchases int4, customers int8, actual_orders float8, predicted_orders float8,
                   orders_error_pct float8, orders_mae float8, actual_value float8, predicted_value float8,
                   value_error_pct float8, log_likelihood float8)
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    days float8 := segment._summary_unit_days(orders, customer_column, time_column, amount_column,
                                              calibration_end, unit);
BEGIN
    IF holdout_end IS NULL OR holdout_end <= calibration_end THEN
        RAISE EXCEPTION 'btyd_backtest: the holdout must end after the calibration period'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = format('calibration_end is %s, holdout_end %s.', calibration_end, holdout_end),
                  HINT = 'Split the orders at a date with enough history on both sides, for example half and half.';
    END IF;
    RETURN QUERY EXECUTE format($q$
        WITH calibration AS (SELECT * FROM segment.customer_summary(%1$L, %2$L, %3$L, %4$L, $1, $3)),
        holdout AS (
            SELECT o.customer::text AS customer, count(*) FILTER (WHERE o.amount > 0)::float8 AS orders,
                   coalesce(sum(o.amount), 0)::float8 AS value
            FROM (SELECT s.%2$I, s.%3$I::date, sum(s.%4$I) FROM %5$s AS s
                  WHERE s.%2$I IS NOT NULL AND s.%4$I IS NOT NULL AND s.%3$I::date > $1 AND s.%3$I::date <= $2
                  GROUP BY 1, 2) AS o(customer, day, amount)
            GROUP BY 1),
        models AS (
            SELECT segment.bgnbd_fit(c.x, c.t_x, c."T") AS bgnbd, segment.paretonbd_fit(c.x, c.t_x, c."T") AS pnbd,
                   segment.gammagamma_fit(c.x, c.mean_value) AS gg
            FROM calibration AS c),
        scored AS (
            SELECT m.name, least(c.x, 7)::int4 AS bucket, coalesce(h.orders, 0) AS actual, coalesce(h.value, 0) AS actual_value,
                   m.expected AS predicted,
                   m.expected * coalesce(segment.gammagamma_expected_value(md.gg, c.x, c.mean_value),
                                         segment.gammagamma_expected_value(md.gg, 0, NULL)) AS predicted_value
            FROM calibration AS c CROSS JOIN models AS md
                 LEFT JOIN holdout AS h ON h.customer = c.customer
                 CROSS JOIN LATERAL (VALUES
                     ('bgnbd', segment.bgnbd_expected_orders(md.bgnbd, ($2 - $1) / $4, c.x, c.t_x, c."T")),
                     ('paretonbd', segment.paretonbd_expected_orders(md.pnbd, ($2 - $1) / $4, c.x, c.t_x, c."T")))
                     AS m(name, expected))
        SELECT s.name, s.bucket, count(*), sum(s.actual), sum(s.predicted),
               100 * (sum(s.predicted) - sum(s.actual)) / nullif(sum(s.actual), 0), avg(abs(s.predicted - s.actual)),
               sum(s.actual_value), sum(s.predicted_value),
               100 * (sum(s.predicted_value) - sum(s.actual_value)) / nullif(sum(s.actual_value), 0),
               CASE WHEN s.bucket IS NULL THEN
                   (SELECT CASE s.name WHEN 'bgnbd' THEN (segment.bgnbd_info(bgnbd)).log_likelihood
                                       ELSE (segment.paretonbd_info(pnbd)).log_likelihood END FROM models) END
        FROM scored AS s
        GROUP BY GROUPING SETS ((s.name, s.bucket), (s.name))
        ORDER BY s.name, s.bucket NULLS LAST
        $q$, orders, customer_column, time_column, amount_column, orders)
    USING calibration_end, holdout_end, unit, days;
END $$;
COMMENT ON FUNCTION segment.btyd_backtest(regclass, name, name, name, date, date, interval) IS
    'Fits BG/NBD, Pareto/NBD and Gamma-Gamma on the orders up to calibration_end (segment.customer_summary) and compares their forecasts for each customer with his purchases (days with a positive net amount) and net value from the day after to holdout_end: per model, one row per number of repeat purchases in the calibration (7: seven or more) and a total row (repeat_purchases NULL) with the log-likelihood of the calibration fit; error in percent of the actual, mean absolute error per customer. Reads the orders as the caller.';
