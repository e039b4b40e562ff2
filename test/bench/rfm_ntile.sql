-- (b) The usual hand-written RFM: NTILE(5) per dimension (one sort each, ties
-- split arbitrarily) and a join to the segment map.  run_bench.sh appends this
-- to the facts CTE of rfm_readme.sql, so (b) and (c) group orders identically.
), scored AS (
    SELECT facts.*,
           ntile(5) OVER (ORDER BY recency_days DESC NULLS FIRST) AS r_score,
           ntile(5) OVER (ORDER BY frequency) AS f_score,
           ntile(5) OVER (ORDER BY monetary) AS m_score
    FROM facts
)
SELECT scored.*,
       r_score::text || f_score || m_score AS rfm_code,
       map.segment AS rfm_segment
FROM scored
LEFT JOIN segment.rfm_segment_map AS map ON (map.r, map.f, map.m) = (r_score, f_score, m_score)
