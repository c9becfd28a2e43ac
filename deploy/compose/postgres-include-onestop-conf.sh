#!/bin/sh
# Run once by the postgres image's entrypoint when it initialises an empty data volume,
# before the server's real start: deploy/postgres.conf (mounted as onestop.conf) then
# applies at every start, and stays the one place those settings are written.
echo "include '/etc/postgresql/onestop.conf'" >>"$PGDATA/postgresql.conf"
