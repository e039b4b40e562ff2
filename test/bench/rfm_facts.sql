-- (f) The per-customer facts that RFM needs, without scoring: the grouping
-- of (c) alone, so that c/f is what scoring costs over it.
SELECT customer_id,
       date_part('epoch', :'as_of'::timestamptz - max(ordered_at) FILTER (WHERE amount > 0)) / 86400 AS recency_days,
       count(*) FILTER (WHERE amount > 0) AS frequency,
       sum(amount) AS monetary
FROM orders
WHERE ordered_at <= :'as_of'
GROUP BY customer_id
