-- Fenced delivery (issue 10).
--
-- lease_seq: the fencing token. Every lease taken on a fire (the claim's, a retry's, a takeover
-- of an expired lease, a dead-letter lease) increments it, and every write a lease holder makes
-- (outcome, renewal, release, dead-letter bookkeeping) matches on the value it was given, so a
-- holder whose lease has moved on changes nothing.
ALTER TABLE fires ADD COLUMN lease_seq INTEGER NOT NULL DEFAULT 0;

-- dead_letter: whether a dead fire still owes its message to DEAD_LETTER_TOPIC ('pending') or
-- has produced it ('sent'); NULL when no dead letter is due (not dead, or no topic set).
-- A pending dead letter is retried by any runner, with available_at as its next try or lease
-- expiry, until the broker takes it.
ALTER TABLE fires ADD COLUMN dead_letter TEXT CHECK (dead_letter IN ('pending', 'sent'));
CREATE INDEX fires_dead_letter_pending ON fires (available_at) WHERE dead_letter = 'pending';
