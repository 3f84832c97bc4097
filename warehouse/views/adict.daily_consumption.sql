-- adict.daily_consumption: one row per PCE and gas day, the best value known for it.
-- sources: adict.informative_consumption, adict.published_consumption
--
-- A day's candidates are its informative row (GRDF's daily figure, D+1 to D+3) and its
-- published daily row (JJ meters; multi-day published blocks of 1M/6M/MM meters have no
-- journee_gaziere and no daily breakdown: they stay in adict.published_consumption only).
-- GRDF restates recent days: statut_conso 'Provisoire' becomes 'Définitive' after month
-- end, often with another energy. The winner is the definitive value when one exists,
-- else the latest fetched provisional one; between two definitive values the published
-- one (the billing reference), then the latest fetched. Each source already holds one row
-- per key, so a restated day is counted once.
WITH candidates AS (
    SELECT
        id_pce, journee_gaziere, month, energie, volume_brut, volume_converti,
        type_qualif_conso, statut_conso, 'published_consumption' AS source, fetched_at
    FROM adict.published_consumption
    WHERE journee_gaziere IS NOT NULL
    UNION ALL
    SELECT
        id_pce, journee_gaziere, month, energie, volume_brut, volume_converti,
        type_qualif_conso, statut_conso, 'informative_consumption' AS source, fetched_at
    FROM adict.informative_consumption
)
SELECT
    id_pce,
    journee_gaziere,
    month,
    energie,
    volume_brut,
    volume_converti,
    type_qualif_conso,
    statut_conso,
    -- 'Définitive' as GRDF spells it; accents and case vary between GRDF's documents.
    coalesce(strip_accents(lower(statut_conso)) LIKE 'definiti%', false) AS definitive,
    source,
    fetched_at
FROM candidates
-- month is a function of journee_gaziere; partitioning by it too lets a filter on month
-- (the hive key) reach the Parquet scan, so DuckDB opens only that month's files.
QUALIFY row_number() OVER (
    PARTITION BY id_pce, journee_gaziere, month
    ORDER BY
        definitive DESC,
        definitive AND source = 'published_consumption' DESC,
        fetched_at DESC,
        source DESC
) = 1
