-- The history page reads one scheduler's fires newest first. The unique index on
-- (scheduler_id, scheduled_for) serves that read backwards (scheduled_for is unique within a
-- scheduler), so a second index on the same columns only cost every claim an index insert.
DROP INDEX fires_history;
