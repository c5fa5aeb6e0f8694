-- Exact, cheap list totals (issue 11). A list answers `total` (the seed has it) on every page;
-- counting a user's schedulers costs a scan of all of them (2.7 ms for 10,000). Instead the
-- count of each (organization, user, event_type) is kept:
--   scheduler_counts        the folded counts;
--   scheduler_count_deltas  +n / -n rows written by triggers in the writing transaction.
-- Writers only append deltas (no row is updated, so concurrent creates of one user never wait
-- on each other); runners fold them into scheduler_counts every second (SKIP LOCKED, one
-- statement, so a reader sees either the deltas or their fold, never both or neither). A total
-- is sum(counts) + sum(deltas) for the owner and event types, read in one statement: exact in
-- the reader's snapshot.
CREATE TABLE scheduler_counts (
    organization_id TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    n               BIGINT NOT NULL,
    PRIMARY KEY (organization_id, created_by, event_type)
);

CREATE TABLE scheduler_count_deltas (
    organization_id TEXT NOT NULL,
    created_by      TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    delta           BIGINT NOT NULL
);
CREATE INDEX scheduler_count_deltas_owner
    ON scheduler_count_deltas (organization_id, created_by, event_type);

-- Inserts and deletes: one delta per owner and event type a statement touched (a bulk insert
-- of 100,000 rows writes one row per group, not 100,000).
CREATE FUNCTION scheduler_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO scheduler_count_deltas (organization_id, created_by, event_type, delta)
    SELECT organization_id, created_by, event_type, count(*) FROM new_rows GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;

CREATE FUNCTION scheduler_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO scheduler_count_deltas (organization_id, created_by, event_type, delta)
    SELECT organization_id, created_by, event_type, -count(*) FROM old_rows GROUP BY 1, 2, 3;
    RETURN NULL;
END $$;

-- An update that changes a row's event type (owners never change): a row trigger whose WHEN
-- is evaluated without calling the function, so the runner's claims (which update many rows,
-- never their event type) pay nothing.
CREATE FUNCTION scheduler_counts_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO scheduler_count_deltas (organization_id, created_by, event_type, delta)
    VALUES (OLD.organization_id, OLD.created_by, OLD.event_type, -1),
           (NEW.organization_id, NEW.created_by, NEW.event_type, 1);
    RETURN NULL;
END $$;

CREATE FUNCTION scheduler_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE scheduler_counts, scheduler_count_deltas;
    RETURN NULL;
END $$;

CREATE TRIGGER schedulers_count_insert AFTER INSERT ON schedulers
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION scheduler_counts_inserted();
CREATE TRIGGER schedulers_count_delete AFTER DELETE ON schedulers
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION scheduler_counts_deleted();
CREATE TRIGGER schedulers_count_update AFTER UPDATE OF event_type, organization_id, created_by
    ON schedulers FOR EACH ROW
    WHEN (OLD.event_type IS DISTINCT FROM NEW.event_type
          OR OLD.organization_id IS DISTINCT FROM NEW.organization_id
          OR OLD.created_by IS DISTINCT FROM NEW.created_by)
    EXECUTE FUNCTION scheduler_counts_moved();
CREATE TRIGGER schedulers_count_truncate AFTER TRUNCATE ON schedulers
    FOR EACH STATEMENT EXECUTE FUNCTION scheduler_counts_truncated();

-- The rows already there (the triggers exist from here on, and this runs in the migration's
-- transaction, which holds off concurrent writers until it commits).
INSERT INTO scheduler_counts (organization_id, created_by, event_type, n)
SELECT organization_id, created_by, event_type, count(*) FROM schedulers GROUP BY 1, 2, 3;
