-- How many times a provider's first landed run of a collection by a way of arriving (pulled,
-- uploaded) has come or moved earlier: what the burden accounts replay, beside the
-- register's revision. The pages keep what they read of the register until one of the two
-- moves, instead of reading every run again for each request.
INSERT INTO counters (name, value) VALUES ('arrivals', 0);
