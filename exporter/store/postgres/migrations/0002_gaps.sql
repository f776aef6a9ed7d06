-- The windows in which envtrack could not see a source (event.Gap; bbolt's gaps
-- bucket, exporter/store/gaps.go). gap is the window's JSON as bbolt stores it; to_at is
-- NULL while it is open, and a source has at most one open window.
CREATE TABLE envtrack_gaps (
    source text        NOT NULL,
    from_at timestamptz NOT NULL,
    to_at   timestamptz,
    gap     json        NOT NULL
);
CREATE UNIQUE INDEX envtrack_gaps_open ON envtrack_gaps (source) WHERE to_at IS NULL;
CREATE INDEX envtrack_gaps_to ON envtrack_gaps (source, to_at);
