-- (c) RFM from the segment building blocks: the query shown in README.md.
-- :as_of is the analysis date; customers whose orders are all refunds have no
-- recency and get NULL scores.
WITH facts AS (
    SELECT customer_id,
           date_part('epoch', :'as_of'::timestamptz - max(ordered_at) FILTER (WHERE amount > 0)) / 86400 AS recency_days,
           count(*) FILTER (WHERE amount > 0) AS frequency,
           sum(amount) AS monetary
    FROM orders
    WHERE ordered_at <= :'as_of'
    GROUP BY customer_id
), scored AS (
    SELECT facts.*,
           segment.quantile_score(-recency_days, 5) OVER w AS r_score,
           segment.quantile_score(frequency, 5) OVER w AS f_score,
           segment.quantile_score(monetary, 5) OVER w AS m_score
    FROM facts
    WINDOW w AS ()
)
SELECT scored.*,
       r_score::text || f_score || m_score AS rfm_code,
       segment.rfm_segment(r_score, f_score, m_score) AS rfm_segment
FROM scored
