"""Power and energy cost: idle + (TDP - idle) x utilization, per phase."""

from __future__ import annotations

from dataclasses import dataclass

from catalog.schema import Device

# Where no idle figure is sourced, assume a tenth of TDP (a modelling assumption, reported as such:
# e.g. an RTX 4090 idles near 20-30 W of 450 W, an H100 SXM near 70-100 W of 700 W).
DEFAULT_IDLE_FRACTION = 0.10


def idle_w(device: Device) -> tuple[float, bool]:
    """Idle watts and whether the figure is sourced (False = assumed)."""
    if device.idle_w is not None:
        return min(device.idle_w, device.tdp_w), True
    return device.tdp_w * DEFAULT_IDLE_FRACTION, False


def device_power_w(device: Device, utilization: float) -> float:
    idle, _ = idle_w(device)
    u = min(1.0, max(0.0, utilization))
    return idle + (device.tdp_w - idle) * u


@dataclass(frozen=True)
class EnergyCost:
    average_power_w: float
    kwh_per_day: float
    cost_per_day_usd: float
    cost_per_month_usd: float
    tokens_per_kwh: float
    tokens_per_usd: float


DAYS_PER_MONTH = 30.0


def energy_cost(average_power_w: float, tokens_per_s: float, price_kwh: float, hours_per_day: float) -> EnergyCost:
    kwh_day = average_power_w * hours_per_day / 1000.0
    cost_day = kwh_day * price_kwh
    tokens_day = tokens_per_s * hours_per_day * 3600.0
    tokens_per_kwh = tokens_day / kwh_day if kwh_day > 0 else 0.0
    tokens_per_usd = tokens_day / cost_day if cost_day > 0 else float("inf")
    return EnergyCost(
        average_power_w=average_power_w,
        kwh_per_day=kwh_day,
        cost_per_day_usd=cost_day,
        cost_per_month_usd=cost_day * DAYS_PER_MONTH,
        tokens_per_kwh=tokens_per_kwh,
        tokens_per_usd=tokens_per_usd,
    )
