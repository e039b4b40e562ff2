-- test/upgrade/catalog.sql -- every object of the extension, one line each,
-- in a stable order: an updated database and a fresh install must print
-- the same.  OIDs and the order of creation do not show; rights are shown
-- as they are in effect (no ACL and the owner's default are the same).
\set QUIET on
\set ON_ERROR_STOP on
\pset format unaligned
\pset footer off
\pset tuples_only on
\pset pager off
WITH members AS (
    SELECT d.classid, d.objid
    FROM pg_depend AS d
    WHERE d.refclassid = 'pg_extension'::regclass
      AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'segment')
      AND d.deptype = 'e'
),
lines AS (
    -- functions, procedures and aggregates: the whole definition, rights, comment
    SELECT 'function ' || p.oid::regprocedure::text AS object,
           CASE WHEN p.prokind = 'a'
                THEN format('aggregate sfunc=%s stype=%s combine=%s final=%s serial=%s deserial=%s initcond=%s',
                            a.aggtransfn, a.aggtranstype::regtype, a.aggcombinefn, a.aggfinalfn,
                            a.aggserialfn, a.aggdeserialfn, a.agginitval)
                ELSE pg_get_functiondef(p.oid) END
           || ' volatility=' || p.provolatile::text || ' parallel=' || p.proparallel::text
           || ' strict=' || p.proisstrict || ' secdef=' || p.prosecdef
           || ' acl=' || coalesce(p.proacl, acldefault('f', p.proowner))::text
           || ' comment=' || coalesce(obj_description(p.oid, 'pg_proc'), '-') AS definition
    FROM members AS m JOIN pg_proc AS p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    LEFT JOIN pg_aggregate AS a ON a.aggfnoid = p.oid
    UNION ALL
    -- tables, views, sequences, indexes, composite types
    SELECT 'relation ' || c.oid::regclass::text,
           format('kind=%s rls=%s force_rls=%s options=%s acl=%s comment=%s',
                  c.relkind, c.relrowsecurity, c.relforcerowsecurity, coalesce(c.reloptions::text, '-'),
                  coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))::text,
                  coalesce(obj_description(c.oid, 'pg_class'), '-'))
           || CASE WHEN c.relkind IN ('v', 'm') THEN ' view=' || pg_get_viewdef(c.oid) ELSE '' END
    FROM members AS m JOIN pg_class AS c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    -- columns, in their order
    SELECT 'column ' || c.oid::regclass::text || '.' || lpad(a.attnum::text, 3, '0') || ' ' || a.attname,
           format('type=%s notnull=%s default=%s acl=%s comment=%s', format_type(a.atttypid, a.atttypmod),
                  a.attnotnull, coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-'), coalesce(a.attacl::text, '-'),
                  coalesce(col_description(c.oid, a.attnum), '-'))
    FROM members AS m JOIN pg_class AS c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef AS ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    UNION ALL
    -- constraints, indexes, triggers, policies of the tables
    SELECT 'constraint ' || c.oid::regclass::text || ' ' || regexp_replace(k.conname, '[0-9]+$', '#'),
           pg_get_constraintdef(k.oid)
    FROM members AS m JOIN pg_class AS c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_constraint AS k ON k.conrelid = c.oid
    UNION ALL
    SELECT 'index ' || c.oid::regclass::text || ' ' || regexp_replace(pg_get_indexdef(i.indexrelid), ' INDEX \S+ ON ', ' INDEX ON '), ''
    FROM members AS m JOIN pg_class AS c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_index AS i ON i.indrelid = c.oid
    UNION ALL
    SELECT 'trigger ' || c.oid::regclass::text || ' ' || t.tgname, pg_get_triggerdef(t.oid)
    FROM members AS m JOIN pg_class AS c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_trigger AS t ON t.tgrelid = c.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT 'policy ' || c.oid::regclass::text || ' ' || pol.polname,
           format('cmd=%s permissive=%s roles=%s using=%s check=%s', pol.polcmd::text, pol.polpermissive, pol.polroles,
                  coalesce(pg_get_expr(pol.polqual, pol.polrelid), '-'),
                  coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '-'))
    FROM members AS m JOIN pg_class AS c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_policy AS pol ON pol.polrelid = c.oid
    UNION ALL
    -- types (base, composite, enum, domain): their form and comment
    SELECT 'type ' || t.oid::regtype::text,
           format('type=%s input=%s output=%s receive=%s send=%s len=%s comment=%s', t.typtype, t.typinput,
                  t.typoutput, t.typreceive, t.typsend, t.typlen, coalesce(obj_description(t.oid, 'pg_type'), '-'))
    FROM members AS m JOIN pg_type AS t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
    UNION ALL
    -- other members: casts, operators, schemas, roles' grants on the schema
    SELECT 'member ' || pg_describe_object(m.classid, m.objid, 0), ''
    FROM members AS m
    WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_type'::regclass)
    UNION ALL
    SELECT 'schema segment', format('acl=%s comment=%s', n.nspacl, coalesce(obj_description(n.oid, 'pg_namespace'), '-'))
    FROM pg_namespace AS n WHERE n.nspname = 'segment'
    UNION ALL
    -- what pg_dump carries of the catalog tables
    SELECT 'config ' || c::regclass::text, coalesce(w, '')
    FROM pg_extension AS e, unnest(e.extconfig, e.extcondition) AS x (c, w)
    WHERE e.extname = 'segment'
    UNION ALL
    -- rows the install script puts in
    SELECT 'row lifecycle_rules ' || r.position, r.segment || ' | ' || r.condition FROM segment.lifecycle_rules AS r
)
SELECT object || ' :: ' || definition FROM lines ORDER BY object, definition;
