import { diffSchemas, renderDiffText } from '@braid/core';
import { introspect, introspectUrl, introspectWithStats, openExecutor, openPGlite } from '@braid/pg';
import { serverUrl } from '../../../../test/helpers/db';
import { close, open } from './helpers';

/** One script exercising every object kind (views excluded: see the second test and docs/schema.md). */
export const EVERY_KIND = `
create extension if not exists citext version '1.6';
create schema app;
create type app.mood as enum ('sad', 'ok', 'happy');
create domain app.posint as integer not null default 1 check (value > 0);
create type app.pair as (a int, b text collate "C");
create sequence app.s1 as integer start 5 increment 2 maxvalue 1000 cycle;
create table app.users (id bigint generated always as identity primary key, email citext not null unique,
  m app.mood default 'ok', n app.posint, name text collate "C",
  full_name text generated always as (upper(name)) stored, created timestamptz default now());
create table app.posts (id serial primary key, user_id bigint references app.users(id) on delete cascade
  deferrable initially deferred, body text, r int4range, exclude using gist (r with &&));
alter table app.posts add constraint body_len check (length(body) < 100) not valid;
create index posts_body on app.posts (lower(body)) where body is not null;
create function app.f(a int, b text) returns int language sql as $$ select a $$;
create function app.f(a int) returns int language sql as $$ select a $$;
create procedure app.p() language plpgsql as $$ begin end $$;
create function app.trg() returns trigger language plpgsql as $$ begin return new; end $$;
create trigger t1 before insert on app.posts for each row execute function app.trg();
alter table app.posts enable row level security;
create policy pol on app.posts for select using (user_id > 0);
comment on table app.users is 'people';
comment on column app.users.email is 'mail';
create table app.events (id int, at date not null) partition by range (at);
create table app.events_2024 partition of app.events for values from ('2024-01-01') to ('2025-01-01');
create unlogged table app.base (a int);
create table app.child (b int) inherits (app.base);
grant select on app.users to public;
revoke execute on function app.f(int) from public;
`;

describe('server and PGlite introspect the same SQL to the same model', () => {
  it('every object kind except views', async () => {
    const server = await open(EVERY_KIND);
    const lite = await openPGlite();
    try {
      await lite.exec(EVERY_KIND);
      const a = await introspect(server.ex);
      const b = await introspect(lite);
      expect(Object.keys(a.tables).length).toBeGreaterThan(5);
      expect(renderDiffText(diffSchemas(a, b))).toEqual([]);
    } finally {
      await lite.close();
      await close(server);
    }
  });

  it('views: pg_get_viewdef of PostgreSQL 16+ drops redundant table qualification (a real engine difference)', async () => {
    const sql = `create table t (id int, amount int); create view v as select id, amount from t where amount > 0;`;
    const server = await open(sql);
    const lite = await openPGlite();
    try {
      await lite.exec(sql);
      const a = await introspect(server.ex);
      const b = await introspect(lite);
      const d = diffSchemas(a, b);
      const newer = server.ex.serverVersionNum >= 160000;
      // Everything but the view definition text is equal; the text is equal when the majors agree on it.
      expect(d.changes.flatMap((c) => c.fields.map((f) => `${c.key} ${f.path}`))).toEqual(
        newer ? [] : ['public.v definition'],
      );
      expect(b.views['public.v']?.definition).toContain('FROM t');
    } finally {
      await lite.close();
      await close(server);
    }
  });
});

describe('introspection sessions', () => {
  it('twelve queries whatever the size; extra sessions give the same model', async () => {
    const db = await open(EVERY_KIND);
    try {
      const one = await introspectWithStats(db.ex);
      expect(one.stats.queries).toBe(12);
      expect(one.stats.objects).toBeGreaterThan(20);
      // pglite:memory names a fresh database each time: the pool applies to servers only.
      const pooled =
        db.db.engine === 'postgres'
          ? await introspectUrl(db.db.url)
          : (await introspectWithStats(db.ex)).model;
      expect(pooled).toEqual(one.model);
    } finally {
      await close(db);
    }
  });
});

if (serverUrl()) {
  describe('introspection sessions on a server that allows one', () => {
    it('introspectUrl reads everything over one session when the second is refused', async () => {
      const db = await open(EVERY_KIND);
      const role = `braid_one_session_${process.pid}`;
      try {
        // a role that may hold one connection at a time: introspectUrl's second session is refused
        await db.ex.exec(
          `create role ${role} login connection limit 1; grant usage on schema app to ${role}`,
        );
        const u = new URL(db.db.url);
        u.username = role;
        const one = (await introspectWithStats(db.ex)).model;
        expect(await introspectUrl(u.toString())).toEqual(one);
      } finally {
        await close(db);
        const admin = await openExecutor(serverUrl()!);
        try {
          await admin.exec(`drop role if exists ${role}`);
        } finally {
          await admin.close();
        }
      }
    });
  });
}
