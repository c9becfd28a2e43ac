-- Statements (GetStatement, ListSettlements): an institution's settlements by the time they
-- were settled, and its cancellations by the time they were made. Without them a month's
-- statement reads every settlement of the ledger.
--
-- tern runs a migration in a transaction, so these cannot be built concurrently here, and a
-- plain build blocks settling while it runs (seconds per million settlements). On a large
-- ledger create them first, by hand, with the same names and "create index concurrently";
-- this migration then finds them and does nothing.
create index if not exists settlements_institution_settled on settlements (institution_id, settled_at);
create index if not exists cancellations_institution_cancelled on cancellations (institution_id, cancelled_at);

---- create above / drop below ----

drop index cancellations_institution_cancelled;
drop index settlements_institution_settled;
