-- ingrid.daily_balance: one row per gas day (and unit) with the shipper's measured,
-- allocated and forecast quantities side by side with the zone's imbalance.
-- sources: ingrid.daily_measures, ingrid.daily_allocations, ingrid.daily_contractual_forecasts, ingrid.daily_imbalances
--
-- Source columns (warehouse/ingrid.py: resources/ingrid_endpoints.py's fields in snake_case;
-- GRTgaz's record shapes are assumed there, see API-NOTES):
--   ingrid.daily_measures               gas_day DATE, point_code, quantity DOUBLE, unit, status
--   ingrid.daily_allocations            gas_day DATE, point_code, allocated_quantity DOUBLE,
--                                       unit, status
--   ingrid.daily_contractual_forecasts  gas_day DATE, point_code, forecast_quantity DOUBLE,
--                                       unit, forecast_date_time TIMESTAMPTZ
--   ingrid.daily_imbalances             gas_day DATE, balancing_zone, allocated_quantity,
--                                       forecast_quantity, imbalance_quantity,
--                                       tolerance_quantity DOUBLE, unit, status
-- each with fetched_at, one row per (gas_day, point_code) or (gas_day, balancing_zone).
-- Point quantities are summed per gas day; nothing maps a point to its balancing zone, and
-- France has one zone (TRF) since 2018, so zone figures are summed per gas day as well.
-- Rows are grouped by unit too: two units on a day give two rows, never a mixed sum.
WITH measured AS (
    SELECT
        gas_day, unit, sum(quantity) AS measured_quantity,
        count(DISTINCT point_code) AS measured_points,
        string_agg(DISTINCT status, ', ' ORDER BY status) AS measure_statuses
    FROM ingrid.daily_measures
    GROUP BY gas_day, unit
),
allocated AS (
    SELECT
        gas_day, unit, sum(allocated_quantity) AS allocated_quantity,
        count(DISTINCT point_code) AS allocated_points,
        string_agg(DISTINCT status, ', ' ORDER BY status) AS allocation_statuses
    FROM ingrid.daily_allocations
    GROUP BY gas_day, unit
),
forecast AS (
    SELECT
        gas_day, unit, sum(forecast_quantity) AS forecast_quantity,
        count(DISTINCT point_code) AS forecast_points,
        max(forecast_date_time) AS last_forecast_date_time
    FROM ingrid.daily_contractual_forecasts
    GROUP BY gas_day, unit
),
imbalance AS (
    SELECT
        gas_day, unit,
        sum(allocated_quantity) AS zone_allocated_quantity,
        sum(forecast_quantity) AS zone_forecast_quantity,
        sum(imbalance_quantity) AS imbalance_quantity,
        sum(tolerance_quantity) AS tolerance_quantity,
        string_agg(DISTINCT balancing_zone, ', ' ORDER BY balancing_zone) AS balancing_zones,
        string_agg(DISTINCT status, ', ' ORDER BY status) AS imbalance_statuses
    FROM ingrid.daily_imbalances
    GROUP BY gas_day, unit
)
SELECT
    gas_day,
    unit,
    measured_quantity,
    allocated_quantity,
    forecast_quantity,
    allocated_quantity - forecast_quantity AS allocated_minus_forecast,
    zone_allocated_quantity,
    zone_forecast_quantity,
    imbalance_quantity,
    tolerance_quantity,
    abs(imbalance_quantity) > tolerance_quantity AS outside_tolerance,
    balancing_zones,
    measured_points,
    allocated_points,
    forecast_points,
    measure_statuses,
    allocation_statuses,
    imbalance_statuses,
    last_forecast_date_time
FROM measured
FULL JOIN allocated USING (gas_day, unit)
FULL JOIN forecast USING (gas_day, unit)
FULL JOIN imbalance USING (gas_day, unit)
