-- Dead letters counted without reading the delivered history (which only grows).
create index outbox_dead on outbox (id) where dead_at is not null;

---- create above / drop below ----

drop index outbox_dead;
