-- The fund-supervision checks at Settle: a repeated bill under a new request id
-- (POSSIBLE_DUPLICATE_BILL) compares bill fingerprints; overlapping inpatient stays at two
-- institutions (CONCURRENT_ADMISSION) compare admission and settle dates. Both read the
-- person's settlements through settlements_person_settled. Nullable: settlements stored
-- before this migration have neither, and count with their settle date as admission.
-- Adding nullable columns without a default rewrites nothing: instant on a large ledger.
alter table settlements add column bill_fingerprint text, add column admission_date date;

---- create above / drop below ----

alter table settlements drop column admission_date, drop column bill_fingerprint;
