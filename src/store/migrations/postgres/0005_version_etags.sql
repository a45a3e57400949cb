-- The ETag an HTTP source gave with a landed extract, sent back as If-None-Match when the
-- period is pulled again so that an unchanged extract is neither downloaded nor landed twice.

ALTER TABLE extract_versions ADD COLUMN etag TEXT;
