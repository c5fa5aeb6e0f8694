-- Flexible time windows (issue 14): a fire of a scheduler with `flexible_time_window_minutes`
-- is planned for a point of its window after the slot. deliver_at is that planned instant;
-- NULL means "at the slot" (no window), which costs nothing on the rows of schedulers without
-- one. A fire whose deliver_at is still ahead when its slot is claimed waits as 'pending' with
-- available_at = deliver_at, and is leased from the fires_available index when it comes.
ALTER TABLE fires ADD COLUMN deliver_at TIMESTAMPTZ;
