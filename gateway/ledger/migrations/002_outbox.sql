-- What the agencies must be told, written in the transaction of the settlement or
-- cancellation it reports and delivered by the dispatcher at least once (the agency
-- receives each message_id once in effect). A row is delivered, dead (given up on after
-- the configured attempts, or rejected by the agency for its content), or pending.
create table outbox (
    id              bigserial primary key,
    message_id      text not null,
    agency          text not null,
    kind            text not null,
    person_key      text not null,
    settlement_id   uuid,
    institution_id  text not null,
    payload         jsonb not null,
    created_at      timestamptz not null,
    attempts        int not null default 0,
    next_attempt_at timestamptz not null,
    lease_until     timestamptz,
    last_error      text,
    delivered_at    timestamptz,
    dead_at         timestamptz,
    unique (agency, message_id)
);
-- The dispatcher's scan, and its per-person ordering check.
create index outbox_due on outbox (next_attempt_at, id) where delivered_at is null and dead_at is null;
create index outbox_person on outbox (agency, person_key, id) where delivered_at is null and dead_at is null;

-- High-cost alerts already raised: once per person, year and threshold.
create table high_cost_alerts (
    person_key    text not null,
    year          int not null,
    threshold     numeric(14,2) not null,
    settlement_id uuid not null,
    raised_at     timestamptz not null,
    primary key (person_key, year, threshold)
);

---- create above / drop below ----

drop table high_cost_alerts;
drop table outbox;
