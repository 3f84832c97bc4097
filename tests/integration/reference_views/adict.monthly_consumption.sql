-- adict.monthly_consumption: one row per PCE and month, the sum of its daily consumption.
-- sources: adict.daily_consumption
--
-- days < days_in_month: some gas days are not known (yet); definitive_days < days: the
-- month still holds provisional days that GRDF may restate.
SELECT
    id_pce,
    month,
    sum(energie) AS energie,
    sum(volume_brut) AS volume_brut,
    count(*) AS days,
    count(*) FILTER (WHERE definitive) AS definitive_days,
    day(last_day(min(journee_gaziere))) AS days_in_month,
    min(journee_gaziere) AS first_day,
    max(journee_gaziere) AS last_day,
    max(fetched_at) AS fetched_at
FROM adict.daily_consumption
GROUP BY id_pce, month
