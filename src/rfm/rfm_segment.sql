-- Named RFM segments: the editable map of all 125 R,F,M codes (bins = 5) to the
-- 11 standard segment names, and segment.rfm_segment() that reads it.

CREATE TABLE segment.rfm_segment_map (
    r int4 NOT NULL CHECK (r BETWEEN 1 AND 5),
    f int4 NOT NULL CHECK (f BETWEEN 1 AND 5),
    m int4 NOT NULL CHECK (m BETWEEN 1 AND 5),
    segment text NOT NULL CHECK (segment <> ''),
    PRIMARY KEY (r, f, m)
);
COMMENT ON TABLE segment.rfm_segment_map IS
    'Editable map from an RFM code (scores 1..5, 5 = best) to a named segment; read by segment.rfm_segment(). A code missing from the table maps to ''Other''. The table belongs to the extension: keep edits in a script of your own, pg_dump does not carry them.';
COMMENT ON COLUMN segment.rfm_segment_map.r IS 'Recency score, 1..5 (5 = most recent).';
COMMENT ON COLUMN segment.rfm_segment_map.f IS 'Frequency score, 1..5 (5 = most orders).';
COMMENT ON COLUMN segment.rfm_segment_map.m IS 'Monetary score, 1..5 (5 = most net revenue).';
COMMENT ON COLUMN segment.rfm_segment_map.segment IS 'Segment name for this code.';

INSERT INTO segment.rfm_segment_map (r, f, m, segment)
SELECT substr(code, 1, 1)::int4, substr(code, 2, 1)::int4, substr(code, 3, 1)::int4, segment
FROM (VALUES
    ('Champions', '{555,554,544,545,454,455,445}'::text[]),
    ('Loyal Customers', '{543,444,435,355,354,345,344,335}'::text[]),
    ('Potential Loyalist', '{553,551,552,541,542,533,532,531,452,451,442,441,431,453,433,432,423,353,352,351,342,341,333,323}'::text[]),
    ('New Customers', '{512,511,422,421,412,411,311}'::text[]),
    ('Promising', '{525,524,523,522,521,515,514,513,425,424,413,414,415,315,314,313}'::text[]),
    ('Need Attention', '{535,534,443,434,343,334,325,324}'::text[]),
    ('About To Sleep', '{331,321,312,221,213}'::text[]),
    ('At Risk', '{255,254,245,244,253,252,243,242,235,234,225,224,153,152,145,143,142,135,134,133,125,124}'::text[]),
    ('Can''t Lose Them', '{155,154,144,214,215,115,114,113}'::text[]),
    ('Hibernating', '{332,322,231,241,251,233,232,223,222,132,123,122,212,211}'::text[]),
    ('Lost', '{111,112,121,131,141,151}'::text[])
) AS named(segment, codes), unnest(codes) AS code;

GRANT SELECT ON segment.rfm_segment_map TO PUBLIC;

CREATE FUNCTION segment.rfm_segment(r int4, f int4, m int4) RETURNS text
    AS 'MODULE_PATHNAME', 'rfm_segment'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION segment.rfm_segment(int4, int4, int4) IS
    'Named RFM segment of scores r, f, m (each 1..5, 5 = best) from segment.rfm_segment_map, or ''Other'' for a code the map leaves out. Reads the map once per query.';
