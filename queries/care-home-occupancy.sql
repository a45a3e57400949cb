-- Care-home occupancy: per local authority and region for the month, capacity, occupied
-- beds, vacant beds (reserved for a named person, and accepting admissions) and occupancy,
-- with ICB and England rows (a local authority's row is split by ICB where its homes are in
-- more than one, so that an ICS sees its own homes). A home with no local authority on the provider register is counted
-- under "Unknown" in its region.
-- The local authority, ICB, region and England rows come from one pass with GROUPING SETS: a
-- CTE read three times would be computed three times (see queries/README.md).
WITH homes AS (
    SELECT p.region, COALESCE(p.icb, 'No ICB') AS icb,
        COALESCE(p.local_authority, 'Unknown') AS local_authority,
        c.max_capacity, c.occupied_beds, c.vacant_reserved, c.vacant_accepting
    FROM care_home_capacity c
    JOIN providers p ON p.code = c.provider
),
levels AS (
    SELECT
        CASE WHEN GROUPING(region) = 1 THEN 'england' WHEN GROUPING(icb) = 1 THEN 'region'
             WHEN GROUPING(local_authority) = 1 THEN 'icb' ELSE 'local_authority' END AS level,
        CASE WHEN GROUPING(region) = 1 THEN 'England' ELSE region END AS region,
        CASE WHEN GROUPING(icb) = 0 THEN icb END AS icb,
        CASE WHEN GROUPING(region) = 1 THEN 'England' WHEN GROUPING(icb) = 1 THEN region
             WHEN GROUPING(local_authority) = 1 THEN icb ELSE local_authority END AS local_authority,
        COUNT(*) AS homes,
        SUM(max_capacity) AS capacity,
        SUM(occupied_beds) AS occupied,
        SUM(vacant_reserved) AS vacant_reserved,
        SUM(vacant_accepting) AS vacant_accepting
    FROM homes
    GROUP BY GROUPING SETS ((region, icb, local_authority), (region, icb), (region), ())
)
SELECT level, region, icb, local_authority, homes, capacity, occupied, vacant_reserved,
    vacant_accepting,
    vacant_reserved + vacant_accepting AS vacant,
    CASE WHEN capacity > 0 THEN ROUND(100.0 * occupied / capacity, 1) END AS occupancy_pct
FROM levels
