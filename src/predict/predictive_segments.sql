-- Predictive segments: a segmentation with predict on gives each customer a
-- churn risk (from the probability that he buys within the horizon) and a
-- value tier (from the rank of the
-- predicted CLV), and names the pair.  All three tables are editable by
-- superusers, read at each refresh; pg_dump does not carry edits.

CREATE TABLE segment.churn_risk_levels (
    churn_risk text PRIMARY KEY CHECK (churn_risk <> ''),
    min_p_purchase float8 NOT NULL UNIQUE CHECK (min_p_purchase >= 0 AND min_p_purchase <= 1)
);
COMMENT ON TABLE segment.churn_risk_levels IS
    'Churn risk levels: a customer''s churn_risk is the level with the highest min_p_purchase at or below his p_purchase, the probability that he buys at least once within the segmentation''s horizon (NULL when none is). Editable by superusers.';
COMMENT ON COLUMN segment.churn_risk_levels.churn_risk IS 'Name of the level, as the churn_risk column shows it.';
COMMENT ON COLUMN segment.churn_risk_levels.min_p_purchase IS 'Least probability of a purchase within the horizon of the level, 0 to 1.';
INSERT INTO segment.churn_risk_levels VALUES ('low', 0.5), ('medium', 0.2), ('high', 0);
GRANT SELECT ON segment.churn_risk_levels TO PUBLIC;

CREATE TABLE segment.value_tiers (
    value_tier text PRIMARY KEY CHECK (value_tier <> ''),
    top_share float8 NOT NULL UNIQUE CHECK (top_share > 0 AND top_share <= 1)
);
COMMENT ON TABLE segment.value_tiers IS
    'Predicted-value tiers: a customer belongs to the tier with the smallest top_share above the share of customers whose predicted CLV is higher than his (the edges are taken from up to 100,000 customers of the refresh). Editable by superusers.';
COMMENT ON COLUMN segment.value_tiers.value_tier IS 'Name of the tier.';
COMMENT ON COLUMN segment.value_tiers.top_share IS 'The tier reaches down to this share of the customers ranked by predicted CLV, highest first (0.2: the top 20%).';
INSERT INTO segment.value_tiers VALUES ('high', 0.2), ('medium', 0.5), ('low', 1);
GRANT SELECT ON segment.value_tiers TO PUBLIC;

CREATE TABLE segment.predictive_segment_map (
    churn_risk text NOT NULL,
    value_tier text NOT NULL,
    segment text NOT NULL CHECK (segment <> ''),
    PRIMARY KEY (churn_risk, value_tier)
);
COMMENT ON TABLE segment.predictive_segment_map IS
    'Names of the predictive segments: a customer with a churn risk and a value tier is in the segment of the pair (''Other'' for a pair the map leaves out). Editable by superusers.';
COMMENT ON COLUMN segment.predictive_segment_map.churn_risk IS 'A level of segment.churn_risk_levels.';
COMMENT ON COLUMN segment.predictive_segment_map.value_tier IS 'A tier of segment.value_tiers.';
COMMENT ON COLUMN segment.predictive_segment_map.segment IS 'Predictive segment name.';
INSERT INTO segment.predictive_segment_map VALUES
    ('low', 'high', 'Best Future Customers'),
    ('medium', 'high', 'High Value, Cooling'),
    ('high', 'high', 'High Value At Risk'),
    ('low', 'medium', 'Steady Customers'),
    ('medium', 'medium', 'Needs Nurturing'),
    ('high', 'medium', 'Fading Customers'),
    ('low', 'low', 'Low Value Active'),
    ('medium', 'low', 'Low Value, Cooling'),
    ('high', 'low', 'Likely Lost');
GRANT SELECT ON segment.predictive_segment_map TO PUBLIC;
