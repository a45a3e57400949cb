-- UEC daily bed SitRep: per trust per day, general and acute beds (adult and paediatric,
-- core and escalation) and adult critical care, available and occupied, with region and
-- ICB, region and England rows (an ICB's row sums its trusts, for the ICS that shares it).
-- General and acute means the general_acute sector's overnight, non-critical
-- beds. Built from the daily ward bed census, so no one fills in the SitRep form.
-- Trust, ICB, region and England rows come from one pass over the beds with GROUPING SETS: a
-- CTE read three times would be computed three times (see queries/README.md).
WITH beds AS (
    SELECT p.region, COALESCE(p.icb, 'No ICB') AS icb, c.provider AS code, p.name,
        CASE WHEN c.sector = 'general_acute' AND c.care_type = 'general' AND c.stay = 'overnight'
             THEN c.age_group || '_' || c.bed_class END AS ga,
        c.care_type = 'critical_care' AND c.age_group = 'adult' AS cc,
        c.available_beds, c.occupied_beds
    FROM ward_bed_census c
    JOIN providers p ON p.code = c.provider
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
        SUM(CASE WHEN ga = 'adult_core' THEN available_beds ELSE 0 END) AS ga_adult_core_available,
        SUM(CASE WHEN ga = 'adult_core' THEN occupied_beds ELSE 0 END) AS ga_adult_core_occupied,
        SUM(CASE WHEN ga = 'adult_escalation' THEN available_beds ELSE 0 END) AS ga_adult_escalation_available,
        SUM(CASE WHEN ga = 'adult_escalation' THEN occupied_beds ELSE 0 END) AS ga_adult_escalation_occupied,
        SUM(CASE WHEN ga = 'paediatric_core' THEN available_beds ELSE 0 END) AS ga_paed_core_available,
        SUM(CASE WHEN ga = 'paediatric_core' THEN occupied_beds ELSE 0 END) AS ga_paed_core_occupied,
        SUM(CASE WHEN ga = 'paediatric_escalation' THEN available_beds ELSE 0 END) AS ga_paed_escalation_available,
        SUM(CASE WHEN ga = 'paediatric_escalation' THEN occupied_beds ELSE 0 END) AS ga_paed_escalation_occupied,
        SUM(CASE WHEN ga IS NOT NULL THEN available_beds ELSE 0 END) AS ga_available,
        SUM(CASE WHEN ga IS NOT NULL THEN occupied_beds ELSE 0 END) AS ga_occupied,
        SUM(CASE WHEN cc THEN available_beds ELSE 0 END) AS cc_adult_available,
        SUM(CASE WHEN cc THEN occupied_beds ELSE 0 END) AS cc_adult_occupied
    FROM beds
    GROUP BY GROUPING SETS ((region, icb, code, name), (region, icb), (region), ())
)
SELECT level, region, icb, code, name,
    ga_adult_core_available,
    ga_adult_core_occupied,
    ga_adult_escalation_available,
    ga_adult_escalation_occupied,
    ga_paed_core_available,
    ga_paed_core_occupied,
    ga_paed_escalation_available,
    ga_paed_escalation_occupied,
    ga_available,
    ga_occupied,
    CASE WHEN ga_available > 0 THEN ROUND(100.0 * ga_occupied / ga_available, 1) END AS ga_occupancy_pct,
    cc_adult_available,
    cc_adult_occupied
FROM levels
