-- Bulk ledger history for the ledger-size measurement: :n settlements of past days, with
-- their fund payments and delivered outbox rows, spread over 100,000 persons.
-- psql: psql -v start=1 -v n=1000000 -f fill.sql (ledgerfill runs the same text)
\set ON_ERROR_STOP on
insert into settlement_requests (institution_id, request_id, settlement_id, request_hash, settled_at)
select 'BULK', 'bulk-' || g, ('018f0000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, md5(g::text),
  timestamptz '2026-01-01' + (g % 320) * interval '1 day'
from generate_series(:start, :start + :n - 1) g;
insert into settlements (id, institution_id, request_id, request_hash, person_key, year, settle_date, med_type, settled_at,
  total, policy_scope, fund_total, hospital, account, cash, receipt)
select ('018f0000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'BULK', 'bulk-' || g, md5(g::text),
  md5('p' || (g % 100000)), 2026, date '2026-01-01' + (g % 320), 'outpatient', timestamptz '2026-01-01' + (g % 320) * interval '1 day',
  123.45, 120.00, 80.00, 0, 0, 43.45, jsonb_build_object('lines', repeat('x', 400))
from generate_series(:start, :start + :n - 1) g;
insert into fund_payments (settlement_id, seq, fund, fund_code, pool, category, amount, threshold_applied, ratio)
select ('018f0000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, s, case s when 0 then 'basic_resident' else 'medical_aid' end,
  '390100', 'outpatient', '', 40.00, 0, 0.5
from generate_series(:start, :start + :n - 1) g, generate_series(0, 1) s;
insert into outbox (message_id, agency, kind, person_key, settlement_id, institution_id, payload, created_at, next_attempt_at, attempts, delivered_at)
select 'bulk-' || g || '-' || a, a, 'settlement', md5('p' || (g % 100000)), ('018f0000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
  'BULK', '{"x":1}', now(), now(), 1, now()
from generate_series(:start, :start + :n - 1) g, unnest(array['insurance_bureau', 'civil_affairs']) a;
