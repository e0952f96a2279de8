DROP TABLE eventstore.chain_backfill;
