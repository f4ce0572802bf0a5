// The generated migration history the apply and round-trip benchmarks share: tables, indexes,
// foreign keys, functions, views and triggers, every down.sql correct. Each entry carries a
// dbmate-style version and name, so the same SQL runs under braid, dbmate and psql.
/** Tables, indexes, foreign keys, functions, views, triggers: every down.sql is correct. */
export function history(n) {
  const out = [];
  for (let i = 1; i <= n; i++) {
    const t = `t${i}`;
    let up;
    let down;
    switch (i % 6) {
      case 1:
        up = `create table ${t} (id bigint generated always as identity primary key, name text not null, created_at timestamptz not null default now());`;
        down = `drop table ${t};`;
        break;
      case 2:
        up = `create table ${t} (id bigint generated always as identity primary key, parent_id bigint references t${i - 1}(id), note text);\ncreate index ${t}_parent_idx on ${t} (parent_id);`;
        down = `drop table ${t};`;
        break;
      case 3:
        up = `create or replace function f${i}(a integer) returns integer language sql immutable as $$ select a + ${i} $$;`;
        down = `drop function f${i}(integer);`;
        break;
      case 4:
        up = `alter table t${i - 3} add column extra_${i} integer;\ncreate index t${i - 3}_extra_${i}_idx on t${i - 3} (extra_${i});`;
        down = `drop index t${i - 3}_extra_${i}_idx;\nalter table t${i - 3} drop column extra_${i};`;
        break;
      case 5:
        up = `create view v${i} as select id, name from t${i - 4};`;
        down = `drop view v${i};`;
        break;
      default:
        up = `create or replace function trg${i}() returns trigger language plpgsql as $$ begin new.name := trim(new.name); return new; end $$;\ncreate trigger trg${i} before insert on t${i - 5} for each row execute function trg${i}();`;
        down = `drop trigger trg${i} on t${i - 5};\ndrop function trg${i}();`;
    }
    out.push({ version: String(20240101000000 + i * 100), name: `step_${i}`, up, down });
  }
  return out;
}
