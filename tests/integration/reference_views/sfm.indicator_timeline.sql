-- sfm.indicator_timeline: for each site and flexibility indicator, its successive colours
-- with the interval each one applies on.
-- sources: sfm.flexibility_indicators
--
-- sfm.flexibility_indicators holds one row per hourly capture, site and side (current |
-- next), the three indicators side by side as q_to_0_* (Q -> Q-), q_to_qmax_* (Q -> Q+)
-- and partial_flexibility_* (status RED | GREEN | GREY, availability_date_time,
-- application_date_time). Here they are one row per indicator, named by that prefix.
-- An indicator is published at H-8 min and applies at H+15 min (seed 001, 3.2.2.1): a
-- state is valid from its application time until the next state's. The latest capture
-- wins for one application time (an announced next state may be superseded), and
-- captures repeating the colour in force are folded into one interval.
WITH announced AS (
    SELECT site_id, site_label, mesh_code, mesh_label, 'q_to_0' AS indicator,
        q_to_0_status AS status, q_to_0_availability_date_time AS availability_date_time,
        q_to_0_application_date_time AS application_date_time, captured_at
    FROM sfm.flexibility_indicators
    UNION ALL
    SELECT site_id, site_label, mesh_code, mesh_label, 'q_to_qmax',
        q_to_qmax_status, q_to_qmax_availability_date_time,
        q_to_qmax_application_date_time, captured_at
    FROM sfm.flexibility_indicators
    UNION ALL
    SELECT site_id, site_label, mesh_code, mesh_label, 'partial_flexibility',
        partial_flexibility_status, partial_flexibility_availability_date_time,
        partial_flexibility_application_date_time, captured_at
    FROM sfm.flexibility_indicators
),
latest AS (
    SELECT *
    FROM announced
    WHERE application_date_time IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY site_id, indicator, application_date_time ORDER BY captured_at DESC
    ) = 1
),
changes AS (
    SELECT
        *,
        lag(status) OVER (
            PARTITION BY site_id, indicator ORDER BY application_date_time
        ) AS previous_status
    FROM latest
)
SELECT
    site_id,
    site_label,
    mesh_code,
    mesh_label,
    indicator,
    status,
    previous_status,
    application_date_time AS valid_from,
    lead(application_date_time) OVER (
        PARTITION BY site_id, indicator ORDER BY application_date_time
    ) AS valid_to,
    -- the gas day (06:00 Europe/Paris) the state starts in
    CAST(timezone('Europe/Paris', application_date_time) - INTERVAL 6 HOUR AS DATE) AS gas_day,
    availability_date_time,
    captured_at AS last_captured_at
FROM changes
WHERE previous_status IS DISTINCT FROM status
