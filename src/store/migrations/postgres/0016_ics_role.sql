-- An integrated care system's token: role `ics`, its ICB kept where a provider token keeps
-- its provider codes.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('dap', 'provider', 'dhsc', 'ics', 'admin'));
