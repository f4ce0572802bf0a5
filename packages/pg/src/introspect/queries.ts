/**
 * The catalog queries behind introspection: one set-based query per object kind (never one
 * per object), so that a schema of thousands of tables costs a dozen round trips. Every query
 * skips braid's registry schema, the system schemas and objects that belong to an extension.
 */

/** Namespace filter; `n` is pg_namespace. */
const NSP = `n.nspname <> 'braid' and n.nspname <> 'information_schema' and n.nspname !~ '^pg_'`;

/** Not a member of an extension (pg_depend deptype 'e'). */
const notExt = (catalog: string, oid: string): string =>
  `not exists (select 1 from pg_depend e where e.classid = '${catalog}'::regclass and e.objid = ${oid} and e.deptype = 'e')`;

/** Grants other than the owner's own, as a JSON array, defaults made explicit. */
const grants = (acl: string, kind: string, owner: string): string => `case when ${acl} is null then ${
  kind === 'f' || kind === 'T'
    ? `json_build_array(json_build_object('grantee', 'PUBLIC', 'privilege', '${kind === 'f' ? 'EXECUTE' : 'USAGE'}', 'grantable', false))`
    : `'[]'::json`
} else (
  select coalesce(json_agg(json_build_object(
           'grantee', case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee) end,
           'privilege', a.privilege_type,
           'grantable', a.is_grantable)
         order by case when a.grantee = 0 then 'PUBLIC' else pg_get_userbyid(a.grantee) end, a.privilege_type), '[]'::json)
  from aclexplode(${acl}) a
  where a.grantee <> ${owner}) end`;

export const Q_SCHEMAS = `
select n.nspname as name, obj_description(n.oid, 'pg_namespace') as comment,
       ${grants('n.nspacl', 'n', 'n.nspowner')} as grants
from pg_namespace n
where ${NSP} and ${notExt('pg_namespace', 'n.oid')}`;

export const Q_EXTENSIONS = `
select x.extname as name, n.nspname as schema, x.extversion as version,
       obj_description(x.oid, 'pg_extension') as comment
from pg_extension x join pg_namespace n on n.oid = x.extnamespace`;

export const Q_TYPES = `
select n.nspname as schema, t.typname as name, t.typtype as typtype,
       obj_description(t.oid, 'pg_type') as comment,
       ${grants('t.typacl', 'T', 't.typowner')} as grants,
       case when t.typtype = 'e' then
         (select json_agg(e.enumlabel order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid) end as labels,
       case when t.typtype = 'd' then format_type(t.typbasetype, t.typtypmod) end as base_type,
       t.typnotnull as not_null,
       t.typdefault as "default",
       case when t.typtype = 'd' and t.typcollation <> 0
                 and t.typcollation <> (select bt.typcollation from pg_type bt where bt.oid = t.typbasetype)
            then (select case when cn.nspname = 'pg_catalog' then quote_ident(co.collname)
                              else quote_ident(cn.nspname) || '.' || quote_ident(co.collname) end
                  from pg_collation co join pg_namespace cn on cn.oid = co.collnamespace where co.oid = t.typcollation)
       end as collation,
       case when t.typtype = 'd' then
         (select coalesce(json_object_agg(c.conname, pg_get_constraintdef(c.oid)), '{}'::json)
          from pg_constraint c where c.contypid = t.oid and c.contype = 'c') end as checks,
       case when t.typtype = 'c' then
         (select json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                 'collation', case when a.attcollation <> 0 and a.attcollation <> at.typcollation then
                   (select case when cn.nspname = 'pg_catalog' then quote_ident(co.collname)
                                else quote_ident(cn.nspname) || '.' || quote_ident(co.collname) end
                    from pg_collation co join pg_namespace cn on cn.oid = co.collnamespace where co.oid = a.attcollation) end)
                 order by a.attnum)
          from pg_attribute a join pg_type at on at.oid = a.atttypid
          where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped) end as attributes
from pg_type t join pg_namespace n on n.oid = t.typnamespace
where ${NSP} and ${notExt('pg_type', 't.oid')}
  and (t.typtype in ('e', 'd')
       or (t.typtype = 'c' and (select r.relkind from pg_class r where r.oid = t.typrelid) = 'c'))`;

export const Q_SEQUENCES = `
select n.nspname as schema, c.relname as name, format_type(s.seqtypid, null) as type,
       s.seqstart::text as start, s.seqincrement::text as increment, s.seqmin::text as min, s.seqmax::text as max,
       s.seqcache::text as cache, s.seqcycle as cycle,
       (select json_build_array(tn.nspname, tc.relname, ta.attname)
          from pg_depend d join pg_class tc on tc.oid = d.refobjid
          join pg_namespace tn on tn.oid = tc.relnamespace
          join pg_attribute ta on ta.attrelid = tc.oid and ta.attnum = d.refobjsubid
         where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.refclassid = 'pg_class'::regclass
           and d.deptype = 'a' and d.refobjsubid > 0 limit 1) as owned_by,
       obj_description(c.oid, 'pg_class') as comment,
       ${grants('c.relacl', 's', 'c.relowner')} as grants
from pg_sequence s join pg_class c on c.oid = s.seqrelid join pg_namespace n on n.oid = c.relnamespace
where ${NSP} and ${notExt('pg_class', 'c.oid')}
  and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'i')`;

export const Q_TABLES = `
select c.oid::int8::text as oid, n.nspname as schema, c.relname as name, c.relkind as relkind,
       c.relpersistence = 'u' as unlogged,
       case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end as partition_key,
       c.relispartition as is_partition,
       case when c.relispartition then pg_get_expr(c.relpartbound, c.oid) end as partition_bound,
       (select coalesce(json_agg(json_build_array(pn.nspname, pc.relname) order by i.inhseqno), '[]'::json)
          from pg_inherits i join pg_class pc on pc.oid = i.inhparent join pg_namespace pn on pn.oid = pc.relnamespace
         where i.inhrelid = c.oid) as parents,
       c.relrowsecurity as row_security, c.relforcerowsecurity as force_row_security,
       dd.description as comment,
       ${grants('c.relacl', 'r', 'c.relowner')} as grants
from pg_class c join pg_namespace n on n.oid = c.relnamespace
left join pg_description dd on dd.objoid = c.oid and dd.classoid = 'pg_class'::regclass and dd.objsubid = 0
where c.relkind in ('r', 'p') and ${NSP} and ${notExt('pg_class', 'c.oid')}`;

export const Q_COLUMNS = `
select a.attrelid::int8::text as oid, a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
       a.attnotnull as not_null, a.attidentity as identity, a.attgenerated as generated,
       case when a.atthasdef then pg_get_expr(ad.adbin, ad.adrelid) end as expr,
       case when a.attcollation <> 0 and a.attcollation <> t.typcollation then
         (select case when cn.nspname = 'pg_catalog' then quote_ident(co.collname)
                      else quote_ident(cn.nspname) || '.' || quote_ident(co.collname) end
            from pg_collation co join pg_namespace cn on cn.oid = co.collnamespace where co.oid = a.attcollation) end as collation,
       d.description as comment
from pg_attribute a
join pg_class c on c.oid = a.attrelid
join pg_namespace n on n.oid = c.relnamespace
join pg_type t on t.oid = a.atttypid
left join pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
left join pg_description d on d.objoid = a.attrelid and d.classoid = 'pg_class'::regclass and d.objsubid = a.attnum
where c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped and a.attislocal and ${NSP}`;

export const Q_CONSTRAINTS = `
select co.conrelid::int8::text as oid, co.conname as name, co.contype as contype,
       pg_get_constraintdef(co.oid) as definition, co.convalidated as validated,
       co.condeferrable as deferrable, co.condeferred as deferred,
       case when co.contype = 'f' then
         (select json_build_array(rn.nspname, rc.relname) from pg_class rc join pg_namespace rn on rn.oid = rc.relnamespace
           where rc.oid = co.confrelid) end as refs,
       dd.description as comment
from pg_constraint co
join pg_class c on c.oid = co.conrelid
join pg_namespace n on n.oid = c.relnamespace
left join pg_description dd on dd.objoid = co.oid and dd.classoid = 'pg_constraint'::regclass and dd.objsubid = 0
where co.contype in ('p', 'u', 'f', 'c', 'x') and co.conislocal and co.conparentid = 0
  and c.relkind in ('r', 'p') and ${NSP}`;

export const Q_INDEXES = `
select n.nspname as schema, i.relname as name, tn.nspname as table_schema, t.relname as table_name,
       pg_get_indexdef(i.oid) as definition, x.indisunique as "unique", x.indisvalid as valid,
       dd.description as comment
from pg_index x
join pg_class i on i.oid = x.indexrelid
join pg_namespace n on n.oid = i.relnamespace
join pg_class t on t.oid = x.indrelid
join pg_namespace tn on tn.oid = t.relnamespace
left join pg_description dd on dd.objoid = i.oid and dd.classoid = 'pg_class'::regclass and dd.objsubid = 0
where t.relkind in ('r', 'p', 'm') and ${NSP} and not i.relispartition and ${notExt('pg_class', 'i.oid')}
  and not exists (select 1 from pg_constraint co
                   where co.conindid = i.oid and co.conrelid = t.oid and co.contype in ('p', 'u', 'x'))`;

export const Q_VIEWS = `
select n.nspname as schema, c.relname as name, c.relkind = 'm' as materialized,
       pg_get_viewdef(c.oid, true) as definition,
       coalesce(to_json(c.reloptions), '[]'::json) as options,
       (select coalesce(json_agg(distinct jsonb_build_array(dn.nspname, dc.relname)), '[]'::json)
          from pg_rewrite r
          join pg_depend d on d.classid = 'pg_rewrite'::regclass and d.objid = r.oid
                          and d.refclassid = 'pg_class'::regclass and d.refobjid <> c.oid
          join pg_class dc on dc.oid = d.refobjid
          join pg_namespace dn on dn.oid = dc.relnamespace
         where r.ev_class = c.oid) as depends_on,
       dd.description as comment,
       ${grants('c.relacl', 'r', 'c.relowner')} as grants
from pg_class c join pg_namespace n on n.oid = c.relnamespace
left join pg_description dd on dd.objoid = c.oid and dd.classoid = 'pg_class'::regclass and dd.objsubid = 0
where c.relkind in ('v', 'm') and ${NSP} and ${notExt('pg_class', 'c.oid')}`;

export const Q_FUNCTIONS = `
select n.nspname as schema, p.proname as name, p.prokind as prokind,
       pg_get_function_identity_arguments(p.oid) as identity_args,
       case when p.prokind = 'f' then pg_get_function_result(p.oid) end as returns,
       pg_get_functiondef(p.oid) as definition,
       obj_description(p.oid, 'pg_proc') as comment,
       ${grants('p.proacl', 'f', 'p.proowner')} as grants
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where p.prokind in ('f', 'p') and ${NSP} and ${notExt('pg_proc', 'p.oid')}`;

export const Q_TRIGGERS = `
select n.nspname as schema, c.relname as table_name, tg.tgname as name,
       pg_get_triggerdef(tg.oid) as definition, tg.tgenabled as enabled,
       obj_description(tg.oid, 'pg_trigger') as comment
from pg_trigger tg
join pg_class c on c.oid = tg.tgrelid
join pg_namespace n on n.oid = c.relnamespace
where not tg.tgisinternal and tg.tgparentid = 0 and ${NSP}`;

export const Q_POLICIES = `
select n.nspname as schema, c.relname as table_name, p.polname as name, p.polpermissive as permissive,
       case p.polcmd when 'r' then 'SELECT' when 'a' then 'INSERT' when 'w' then 'UPDATE' when 'd' then 'DELETE' else 'ALL' end as command,
       (select json_agg(case when r = 0 then 'PUBLIC' else pg_get_userbyid(r) end) from unnest(p.polroles) r) as roles,
       pg_get_expr(p.polqual, p.polrelid) as using_expr,
       pg_get_expr(p.polwithcheck, p.polrelid) as check_expr,
       obj_description(p.oid, 'pg_policy') as comment
from pg_policy p
join pg_class c on c.oid = p.polrelid
join pg_namespace n on n.oid = c.relnamespace
where ${NSP}`;
