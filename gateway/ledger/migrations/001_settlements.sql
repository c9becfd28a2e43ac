-- Settlements are append-only: a row is never changed except to set cancelled_at once.
create table settlements (
    id             uuid primary key,
    institution_id text not null,
    request_id     text not null,
    request_hash   text not null,
    person_key     text not null,
    year           int not null,
    settle_date    date not null,
    med_type       text not null,
    settled_at     timestamptz not null,
    total          numeric(14,2) not null,
    policy_scope   numeric(14,2) not null,
    fund_total     numeric(14,2) not null,
    hospital       numeric(14,2) not null,
    account        numeric(14,2) not null,
    cash           numeric(14,2) not null,
    receipt        jsonb not null,
    cancelled_at   timestamptz,
    unique (institution_id, request_id)
);
-- The account spent since a snapshot: settlements and cancellations of a person after a moment.
create index settlements_person_settled on settlements (person_key, settled_at);
create index settlements_person_cancelled on settlements (person_key, cancelled_at) where cancelled_at is not null;

create table fund_payments (
    settlement_id     uuid not null references settlements,
    seq               int not null,
    fund              text not null,
    fund_code         text not null,
    pool              text not null,
    category          text not null,
    amount            numeric(14,2) not null,
    threshold_applied numeric(14,2) not null,
    ratio             numeric(12,9) not null,
    primary key (settlement_id, seq)
);

-- What each settlement added to each accumulator: a cancellation subtracts exactly these.
create table settlement_deltas (
    settlement_id uuid not null references settlements,
    key           text not null,
    amount        numeric(14,2) not null,
    primary key (settlement_id, key)
);

-- A person's running totals for a year, keyed "<fund>.<pool>.threshold|paid".
create table accumulators (
    person_key text not null,
    year       int not null,
    key        text not null,
    amount     numeric(14,2) not null,
    primary key (person_key, year, key)
);

create table cancellations (
    settlement_id  uuid primary key references settlements,
    institution_id text not null,
    request_id     text not null,
    reason         text not null,
    cancelled_at   timestamptz not null,
    unique (institution_id, request_id)
);

---- create above / drop below ----

drop table cancellations;
drop table accumulators;
drop table settlement_deltas;
drop table fund_payments;
drop table settlements;
