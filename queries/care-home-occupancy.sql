-- Care-home occupancy: per local authority and region for the month, capacity, occupied
-- beds, vacant beds (reserved for a named person, and accepting admissions) and occupancy,
-- with an England row. A home with no local authority on the provider register is counted
-- under "Unknown" in its region.
WITH homes AS (
    SELECT p.region, COALESCE(p.local_authority, 'Unknown') AS local_authority,
        c.max_capacity, c.occupied_beds, c.vacant_reserved, c.vacant_accepting
    FROM care_home_capacity c
    JOIN providers p ON p.code = c.provider
),
areas AS (
    SELECT 'local_authority' AS level, region, local_authority,
        COUNT(*) AS homes,
        SUM(max_capacity) AS capacity,
        SUM(occupied_beds) AS occupied,
        SUM(vacant_reserved) AS vacant_reserved,
        SUM(vacant_accepting) AS vacant_accepting
    FROM homes
    GROUP BY region, local_authority
),
regions AS (
    SELECT 'region' AS level, region, region AS local_authority,
        SUM(homes) AS homes, SUM(capacity) AS capacity, SUM(occupied) AS occupied,
        SUM(vacant_reserved) AS vacant_reserved, SUM(vacant_accepting) AS vacant_accepting
    FROM areas
    GROUP BY region
),
england AS (
    SELECT 'england' AS level, 'England' AS region, 'England' AS local_authority,
        SUM(homes) AS homes, SUM(capacity) AS capacity, SUM(occupied) AS occupied,
        SUM(vacant_reserved) AS vacant_reserved, SUM(vacant_accepting) AS vacant_accepting
    FROM areas
)
SELECT level, region, local_authority, homes, capacity, occupied, vacant_reserved,
    vacant_accepting,
    vacant_reserved + vacant_accepting AS vacant,
    CASE WHEN capacity > 0 THEN ROUND(100.0 * occupied / capacity, 1) END AS occupancy_pct
FROM (
    SELECT * FROM areas
    UNION ALL SELECT * FROM regions
    UNION ALL SELECT * FROM england
) t
