-- Fire history retention (issue 12): finished fires are removed after FIRE_RETENTION (delivered,
-- cancelled) or DEAD_FIRE_RETENTION (dead), counted from when they finished. Open fires
-- (pending, delivering, retrying) and dead fires that still owe their dead letter are never
-- removed.
ALTER TABLE fires ADD COLUMN finished_at TIMESTAMPTZ;

-- Rows finished before this migration: their delivery time where known, else their creation.
UPDATE fires SET finished_at = COALESCE(delivered_at, created_at)
WHERE status IN ('delivered', 'cancelled', 'dead');

-- The pruner walks these in finished_at order and stops at the cutoff; each holds only what
-- it may remove, so rows kept longer (dead, open) are never walked by the other pass.
CREATE INDEX fires_finished ON fires (finished_at) WHERE status IN ('delivered', 'cancelled');
CREATE INDEX fires_dead_finished ON fires (finished_at) WHERE status = 'dead';
