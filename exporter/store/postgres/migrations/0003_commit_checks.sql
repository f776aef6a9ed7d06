-- A commit goes to the server as one pipeline: BEGIN, its checks, its writes and COMMIT
-- in one round trip (exporter/store/postgres/commit.go). A check that fails must abort
-- the transaction, so that nothing after it is applied and the COMMIT behind it does not
-- commit: envtrack_check raises the SQLSTATE given (class EA, envtrack's own) with the
-- message given when ok is not true, and returns true otherwise.
CREATE FUNCTION envtrack_check(ok boolean, code text, msg text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg;
    END IF;
    RETURN true;
END
$$;
