-- 0013: a token's revocation (or any change of its expiry, or its deletion) is announced on the
-- notification channel mrhub_token_changed with the token id, so that every hub drops it from
-- its token cache at once (pkg/auth Authenticator.Listen). The trigger fires for every way of
-- revoking (mrhub token revoke, or SQL by hand); the notification is sent when the transaction
-- commits.
-- Forward-only. Never edit a migration that has landed; add a new numbered file.
CREATE FUNCTION api_tokens_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mrhub_token_changed', OLD.id::text);
    RETURN NULL;
END $$;

CREATE TRIGGER api_tokens_notify AFTER UPDATE OF revoked_at, expires_at, role, org OR DELETE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_notify();
