-- Settlements partitioned by month of settled_at (UTC months), so that a month's statement,
-- an archive or a purge touches one partition, and the table's indexes stay the size of a
-- month. Works on an existing ledger: the rows move into the partitioned table inside this
-- migration's transaction (on a large ledger: a maintenance window; it holds an exclusive
-- lock for as long as the copy takes — about a minute per few million settlements here).
--
-- A partitioned table's unique keys must contain the partition key, so idempotency
-- (institution_id, request_id) and the references from payments, deltas and cancellations
-- move to settlement_requests: one small row per settlement, never partitioned, which also
-- tells where a settlement id lives (its settled_at) so lookups by id prune to one
-- partition.
create table settlement_requests (
    institution_id text not null,
    request_id     text not null,
    settlement_id  uuid not null unique,
    request_hash   text not null,
    settled_at     timestamptz not null,
    primary key (institution_id, request_id)
);
insert into settlement_requests (institution_id, request_id, settlement_id, request_hash, settled_at)
    select institution_id, request_id, id, request_hash, settled_at from settlements;

alter table fund_payments drop constraint fund_payments_settlement_id_fkey;
alter table settlement_deltas drop constraint settlement_deltas_settlement_id_fkey;
alter table cancellations drop constraint cancellations_settlement_id_fkey;

alter table settlements rename to settlements_unpartitioned;
alter table settlements_unpartitioned drop constraint settlements_pkey;
alter table settlements_unpartitioned drop constraint settlements_institution_id_request_id_key;
drop index settlements_person_settled;
drop index settlements_person_cancelled;
drop index settlements_institution_settled;

create table settlements (
    id               uuid not null,
    institution_id   text not null,
    request_id       text not null,
    request_hash     text not null,
    person_key       text not null,
    year             int not null,
    settle_date      date not null,
    med_type         text not null,
    settled_at       timestamptz not null,
    total            numeric(14,2) not null,
    policy_scope     numeric(14,2) not null,
    fund_total       numeric(14,2) not null,
    hospital         numeric(14,2) not null,
    account          numeric(14,2) not null,
    cash             numeric(14,2) not null,
    receipt          jsonb not null,
    cancelled_at     timestamptz,
    bill_fingerprint text,
    admission_date   date,
    primary key (id, settled_at),
    foreign key (id) references settlement_requests (settlement_id)
) partition by range (settled_at);
-- The account spent since a snapshot and the fraud checks' history (by person); the
-- statements (by institution and month).
create index settlements_person_settled on settlements (person_key, settled_at);
create index settlements_person_cancelled on settlements (person_key, cancelled_at) where cancelled_at is not null;
create index settlements_institution_settled on settlements (institution_id, settled_at);
-- Rows outside every month's partition land here rather than fail: the gateway keeps
-- months created ahead (onestop_settlement_partitions), so it stays empty in practice.
create table settlements_default partition of settlements default;

-- Creates the monthly partitions from the month of `from` to `months_ahead` months after
-- now; existing ones are kept. Called here and by the gateway at start and daily.
create function onestop_settlement_partitions(since timestamptz, months_ahead int) returns int
language plpgsql as $$
declare
    m timestamptz := date_trunc('month', least(since, now()) at time zone 'UTC') at time zone 'UTC';
    last timestamptz := date_trunc('month', now() at time zone 'UTC') at time zone 'UTC' + make_interval(months => months_ahead);
    made int := 0;
    name text;
begin
    while m <= last loop
        name := 'settlements_' || to_char(m at time zone 'UTC', 'YYYY_MM');
        if to_regclass(name) is null then
            execute format('create table %I partition of settlements for values from (%L) to (%L)',
                name, m, m + interval '1 month');
            made := made + 1;
        end if;
        m := m + interval '1 month';
    end loop;
    return made;
end $$;

select onestop_settlement_partitions(coalesce((select min(settled_at) from settlements_unpartitioned), now()), 3);

insert into settlements (id, institution_id, request_id, request_hash, person_key, year, settle_date, med_type,
        settled_at, total, policy_scope, fund_total, hospital, account, cash, receipt, cancelled_at,
        bill_fingerprint, admission_date)
    select id, institution_id, request_id, request_hash, person_key, year, settle_date, med_type,
        settled_at, total, policy_scope, fund_total, hospital, account, cash, receipt, cancelled_at,
        bill_fingerprint, admission_date
    from settlements_unpartitioned;
drop table settlements_unpartitioned;

alter table fund_payments add foreign key (settlement_id) references settlement_requests (settlement_id);
alter table settlement_deltas add foreign key (settlement_id) references settlement_requests (settlement_id);
alter table cancellations add foreign key (settlement_id) references settlement_requests (settlement_id);

---- create above / drop below ----

-- Back to one table (the rows move back).
alter table fund_payments drop constraint fund_payments_settlement_id_fkey;
alter table settlement_deltas drop constraint settlement_deltas_settlement_id_fkey;
alter table cancellations drop constraint cancellations_settlement_id_fkey;
create table settlements_single (like settlements including defaults);
insert into settlements_single select * from settlements;
drop table settlements;
drop function onestop_settlement_partitions(timestamptz, int);
alter table settlements_single rename to settlements;
alter table settlements add primary key (id);
alter table settlements add unique (institution_id, request_id);
create index settlements_person_settled on settlements (person_key, settled_at);
create index settlements_person_cancelled on settlements (person_key, cancelled_at) where cancelled_at is not null;
create index settlements_institution_settled on settlements (institution_id, settled_at);
drop table settlement_requests;
alter table fund_payments add foreign key (settlement_id) references settlements;
alter table settlement_deltas add foreign key (settlement_id) references settlements;
alter table cancellations add foreign key (settlement_id) references settlements;
