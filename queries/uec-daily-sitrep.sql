-- UEC daily bed SitRep: per trust per day, general and acute beds (adult and paediatric,
-- core and escalation) and adult critical care, available and occupied, with region and
-- England rows. General and acute means the general_acute sector's overnight, non-critical
-- beds. Built from the daily ward bed census, so no one fills in the SitRep form.
WITH beds AS (
    SELECT p.region, c.provider AS code, p.name,
        CASE WHEN c.sector = 'general_acute' AND c.care_type = 'general' AND c.stay = 'overnight'
             THEN c.age_group || '_' || c.bed_class END AS ga,
        c.care_type = 'critical_care' AND c.age_group = 'adult' AS cc,
        c.available_beds, c.occupied_beds
    FROM ward_bed_census c
    JOIN providers p ON p.code = c.provider
),
trusts AS (
    SELECT 'trust' AS level, region, code, name,
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
    GROUP BY region, code, name
),
regions AS (
    SELECT 'region' AS level, region, region AS code, region AS name,
        SUM(ga_adult_core_available) AS ga_adult_core_available,
        SUM(ga_adult_core_occupied) AS ga_adult_core_occupied,
        SUM(ga_adult_escalation_available) AS ga_adult_escalation_available,
        SUM(ga_adult_escalation_occupied) AS ga_adult_escalation_occupied,
        SUM(ga_paed_core_available) AS ga_paed_core_available,
        SUM(ga_paed_core_occupied) AS ga_paed_core_occupied,
        SUM(ga_paed_escalation_available) AS ga_paed_escalation_available,
        SUM(ga_paed_escalation_occupied) AS ga_paed_escalation_occupied,
        SUM(ga_available) AS ga_available,
        SUM(ga_occupied) AS ga_occupied,
        SUM(cc_adult_available) AS cc_adult_available,
        SUM(cc_adult_occupied) AS cc_adult_occupied
    FROM trusts
    GROUP BY region
),
england AS (
    SELECT 'england' AS level, 'England' AS region, 'ENG' AS code, 'England' AS name,
        SUM(ga_adult_core_available) AS ga_adult_core_available,
        SUM(ga_adult_core_occupied) AS ga_adult_core_occupied,
        SUM(ga_adult_escalation_available) AS ga_adult_escalation_available,
        SUM(ga_adult_escalation_occupied) AS ga_adult_escalation_occupied,
        SUM(ga_paed_core_available) AS ga_paed_core_available,
        SUM(ga_paed_core_occupied) AS ga_paed_core_occupied,
        SUM(ga_paed_escalation_available) AS ga_paed_escalation_available,
        SUM(ga_paed_escalation_occupied) AS ga_paed_escalation_occupied,
        SUM(ga_available) AS ga_available,
        SUM(ga_occupied) AS ga_occupied,
        SUM(cc_adult_available) AS cc_adult_available,
        SUM(cc_adult_occupied) AS cc_adult_occupied
    FROM trusts
)
SELECT level, region, code, name,
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
FROM (
    SELECT * FROM trusts
    UNION ALL SELECT * FROM regions
    UNION ALL SELECT * FROM england
) t
