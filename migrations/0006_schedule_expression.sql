-- Timing from EventBridge and flexible windows (issue 14).
-- schedule_expression: rate(...), cron(...) or at(...) as the client gave it; when set, the
-- frequency and cron columns are NULL (the expression stands instead of them).
-- flexible_time_window_minutes: 0 (off) to 1,440; each slot's delivery is spread over
-- [slot, slot + window) by a hash of the scheduler id and the slot (see the core crate).
ALTER TABLE schedulers ADD COLUMN schedule_expression TEXT;
ALTER TABLE schedulers ADD COLUMN flexible_time_window_minutes INTEGER NOT NULL DEFAULT 0
    CHECK (flexible_time_window_minutes BETWEEN 0 AND 1440);
