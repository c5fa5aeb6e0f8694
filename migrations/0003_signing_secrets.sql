-- Webhook signing secrets that customers can see and rotate (issue 16).
--
-- signing_secret (0001) is the current secret; previous_signing_secret the one it replaced,
-- still valid for signing until previous_signing_secret_expires_at (the rotation's overlap).
-- Both hold either the plain `whsec_...` secret or, once SIGNING_SECRET_KEY is set, its
-- encrypted form `enc:v1:<base64 nonce + ciphertext>` (see crates/store/src/secrets.rs).
ALTER TABLE organizations
    ADD COLUMN signing_secret_created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ADD COLUMN previous_signing_secret TEXT,
    ADD COLUMN previous_signing_secret_expires_at TIMESTAMPTZ,
    ADD CONSTRAINT organizations_previous_secret_expiry
        CHECK ((previous_signing_secret IS NULL) = (previous_signing_secret_expires_at IS NULL));

-- Existing secrets were made with their organization.
UPDATE organizations SET signing_secret_created_at = created_at;
