-- How a run's extract arrived: pulled from a source, or uploaded by hand. Until now this
-- was read from an `upload-` prefix on the instance's name; runs from before keep that
-- meaning here, and nothing matches on the name again. Stop every instance before
-- upgrading: a Tally from before this column would record its uploads as pulled.
ALTER TABLE runs ADD COLUMN arrived TEXT NOT NULL DEFAULT 'pulled';
UPDATE runs SET arrived = 'uploaded' WHERE instance LIKE 'upload-%';
