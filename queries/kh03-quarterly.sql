-- KH03: per trust per quarter, the average daily number of available and occupied beds by
-- sector (general and acute, mental illness, learning disabilities, maternity), overnight
-- and day-only separately, with overnight occupancy; ICB, region and England rows are the
-- sums of their trusts' averages, rounded to one decimal place only at the end. Critical care
-- beds are left out, as KH03 leaves them out. A trust's averages are over the days it
-- reported: one that closed in the quarter is averaged over the days it was open.
-- The census is summed by sector and stay before it is turned into columns, and the trust,
-- region and England rows come from one pass with GROUPING SETS: a CTE read three times
-- would be computed three times (see queries/README.md). A trust's averages are kept in
-- whole millionths of a bed, so that region and England sums are exact whatever order the
-- engine adds the trusts in: the same inputs give the same figures, read from packs or not.
WITH cells AS (
    SELECT c.provider AS code, c.census_date, c.sector, c.stay,
        SUM(c.available_beds) AS available, SUM(c.occupied_beds) AS occupied
    FROM ward_bed_census c
    WHERE c.care_type = 'general'
    GROUP BY c.provider, c.census_date, c.sector, c.stay
),
days AS (
    SELECT code, census_date,
        SUM(CASE WHEN sector = 'general_acute' AND stay = 'overnight' THEN available ELSE 0 END) AS ga_overnight_available,
        SUM(CASE WHEN sector = 'general_acute' AND stay = 'overnight' THEN occupied ELSE 0 END) AS ga_overnight_occupied,
        SUM(CASE WHEN sector = 'general_acute' AND stay = 'day_only' THEN available ELSE 0 END) AS ga_day_available,
        SUM(CASE WHEN sector = 'general_acute' AND stay = 'day_only' THEN occupied ELSE 0 END) AS ga_day_occupied,
        SUM(CASE WHEN sector = 'mental_illness' AND stay = 'overnight' THEN available ELSE 0 END) AS mi_overnight_available,
        SUM(CASE WHEN sector = 'mental_illness' AND stay = 'overnight' THEN occupied ELSE 0 END) AS mi_overnight_occupied,
        SUM(CASE WHEN sector = 'mental_illness' AND stay = 'day_only' THEN available ELSE 0 END) AS mi_day_available,
        SUM(CASE WHEN sector = 'mental_illness' AND stay = 'day_only' THEN occupied ELSE 0 END) AS mi_day_occupied,
        SUM(CASE WHEN sector = 'learning_disabilities' AND stay = 'overnight' THEN available ELSE 0 END) AS ld_overnight_available,
        SUM(CASE WHEN sector = 'learning_disabilities' AND stay = 'overnight' THEN occupied ELSE 0 END) AS ld_overnight_occupied,
        SUM(CASE WHEN sector = 'learning_disabilities' AND stay = 'day_only' THEN available ELSE 0 END) AS ld_day_available,
        SUM(CASE WHEN sector = 'learning_disabilities' AND stay = 'day_only' THEN occupied ELSE 0 END) AS ld_day_occupied,
        SUM(CASE WHEN sector = 'maternity' AND stay = 'overnight' THEN available ELSE 0 END) AS mat_overnight_available,
        SUM(CASE WHEN sector = 'maternity' AND stay = 'overnight' THEN occupied ELSE 0 END) AS mat_overnight_occupied,
        SUM(CASE WHEN sector = 'maternity' AND stay = 'day_only' THEN available ELSE 0 END) AS mat_day_available,
        SUM(CASE WHEN sector = 'maternity' AND stay = 'day_only' THEN occupied ELSE 0 END) AS mat_day_occupied
    FROM cells
    GROUP BY code, census_date
),
trusts AS (
    SELECT p.region, COALESCE(p.icb, 'No ICB') AS icb, d.code, p.name,
        COUNT(*) AS days_reported,
        CAST(ROUND(SUM(ga_overnight_available) * 1000000.0 / COUNT(*)) AS BIGINT) AS ga_overnight_available,
        CAST(ROUND(SUM(ga_overnight_occupied) * 1000000.0 / COUNT(*)) AS BIGINT) AS ga_overnight_occupied,
        CAST(ROUND(SUM(ga_day_available) * 1000000.0 / COUNT(*)) AS BIGINT) AS ga_day_available,
        CAST(ROUND(SUM(ga_day_occupied) * 1000000.0 / COUNT(*)) AS BIGINT) AS ga_day_occupied,
        CAST(ROUND(SUM(mi_overnight_available) * 1000000.0 / COUNT(*)) AS BIGINT) AS mi_overnight_available,
        CAST(ROUND(SUM(mi_overnight_occupied) * 1000000.0 / COUNT(*)) AS BIGINT) AS mi_overnight_occupied,
        CAST(ROUND(SUM(mi_day_available) * 1000000.0 / COUNT(*)) AS BIGINT) AS mi_day_available,
        CAST(ROUND(SUM(mi_day_occupied) * 1000000.0 / COUNT(*)) AS BIGINT) AS mi_day_occupied,
        CAST(ROUND(SUM(ld_overnight_available) * 1000000.0 / COUNT(*)) AS BIGINT) AS ld_overnight_available,
        CAST(ROUND(SUM(ld_overnight_occupied) * 1000000.0 / COUNT(*)) AS BIGINT) AS ld_overnight_occupied,
        CAST(ROUND(SUM(ld_day_available) * 1000000.0 / COUNT(*)) AS BIGINT) AS ld_day_available,
        CAST(ROUND(SUM(ld_day_occupied) * 1000000.0 / COUNT(*)) AS BIGINT) AS ld_day_occupied,
        CAST(ROUND(SUM(mat_overnight_available) * 1000000.0 / COUNT(*)) AS BIGINT) AS mat_overnight_available,
        CAST(ROUND(SUM(mat_overnight_occupied) * 1000000.0 / COUNT(*)) AS BIGINT) AS mat_overnight_occupied,
        CAST(ROUND(SUM(mat_day_available) * 1000000.0 / COUNT(*)) AS BIGINT) AS mat_day_available,
        CAST(ROUND(SUM(mat_day_occupied) * 1000000.0 / COUNT(*)) AS BIGINT) AS mat_day_occupied
    FROM days d
    JOIN providers p ON p.code = d.code
    GROUP BY p.region, COALESCE(p.icb, 'No ICB'), d.code, p.name
),
levels AS (
    SELECT
        CASE WHEN GROUPING(region) = 1 THEN 'england' WHEN GROUPING(icb) = 1 THEN 'region'
             WHEN GROUPING(code) = 1 THEN 'icb' ELSE 'trust' END AS level,
        CASE WHEN GROUPING(region) = 1 THEN 'England' ELSE region END AS region,
        CASE WHEN GROUPING(icb) = 0 THEN icb END AS icb,
        CASE WHEN GROUPING(region) = 1 THEN 'ENG' WHEN GROUPING(icb) = 1 THEN region
             WHEN GROUPING(code) = 1 THEN icb ELSE code END AS code,
        CASE WHEN GROUPING(region) = 1 THEN 'England' WHEN GROUPING(icb) = 1 THEN region
             WHEN GROUPING(code) = 1 THEN icb ELSE name END AS name,
        MAX(days_reported) AS days_reported,
        SUM(ga_overnight_available) AS ga_overnight_available,
        SUM(ga_overnight_occupied) AS ga_overnight_occupied,
        SUM(ga_day_available) AS ga_day_available,
        SUM(ga_day_occupied) AS ga_day_occupied,
        SUM(mi_overnight_available) AS mi_overnight_available,
        SUM(mi_overnight_occupied) AS mi_overnight_occupied,
        SUM(mi_day_available) AS mi_day_available,
        SUM(mi_day_occupied) AS mi_day_occupied,
        SUM(ld_overnight_available) AS ld_overnight_available,
        SUM(ld_overnight_occupied) AS ld_overnight_occupied,
        SUM(ld_day_available) AS ld_day_available,
        SUM(ld_day_occupied) AS ld_day_occupied,
        SUM(mat_overnight_available) AS mat_overnight_available,
        SUM(mat_overnight_occupied) AS mat_overnight_occupied,
        SUM(mat_day_available) AS mat_day_available,
        SUM(mat_day_occupied) AS mat_day_occupied
    FROM trusts
    GROUP BY GROUPING SETS ((region, icb, code, name), (region, icb), (region), ())
)
SELECT level, region, icb, code, name, days_reported,
    ROUND(ga_overnight_available / 1000000.0, 1) AS ga_overnight_available,
    ROUND(ga_overnight_occupied / 1000000.0, 1) AS ga_overnight_occupied,
    ROUND(ga_day_available / 1000000.0, 1) AS ga_day_available,
    ROUND(ga_day_occupied / 1000000.0, 1) AS ga_day_occupied,
    ROUND(mi_overnight_available / 1000000.0, 1) AS mi_overnight_available,
    ROUND(mi_overnight_occupied / 1000000.0, 1) AS mi_overnight_occupied,
    ROUND(mi_day_available / 1000000.0, 1) AS mi_day_available,
    ROUND(mi_day_occupied / 1000000.0, 1) AS mi_day_occupied,
    ROUND(ld_overnight_available / 1000000.0, 1) AS ld_overnight_available,
    ROUND(ld_overnight_occupied / 1000000.0, 1) AS ld_overnight_occupied,
    ROUND(ld_day_available / 1000000.0, 1) AS ld_day_available,
    ROUND(ld_day_occupied / 1000000.0, 1) AS ld_day_occupied,
    ROUND(mat_overnight_available / 1000000.0, 1) AS mat_overnight_available,
    ROUND(mat_overnight_occupied / 1000000.0, 1) AS mat_overnight_occupied,
    ROUND(mat_day_available / 1000000.0, 1) AS mat_day_available,
    ROUND(mat_day_occupied / 1000000.0, 1) AS mat_day_occupied,
    CASE WHEN ga_overnight_available + mi_overnight_available + ld_overnight_available + mat_overnight_available > 0
         THEN ROUND(100.0 * (ga_overnight_occupied + mi_overnight_occupied + ld_overnight_occupied + mat_overnight_occupied)
                    / (ga_overnight_available + mi_overnight_available + ld_overnight_available + mat_overnight_available), 1)
    END AS overnight_occupancy_pct
FROM levels
