"""EMR Serverless prices per vCPU-hour and GB-hour, and what a run's billed resources cost.

Used by the cost model (bench/cost.py) and by the cloud client and dashboard, which price
the billed resources that GetJobRun reports. AWS's pricing page fills its tables in by
script and could not be read from the offline development machine; the x86 rates come
from PerfKitBenchmarker's EMR Serverless price list, generated from AWS's price list
(commit 804d012 of 2023-02-03, unchanged in its 2026 snapshot). No source found gives
the ARM rates for eu-west-3; every published ARM/x86 pair found (us-east-1, and
aws-samples' calculator for eu-west-1) is exactly 0.80, so ARM = 0.80 x x86 here,
labelled as derived. Check https://aws.amazon.com/emr/pricing/ before quoting a figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ARM_DISCOUNT = 0.80
"""ARM price / x86 price in every published pair found (us-east-1 0.042094/0.052624)."""

X86_PRICES = {  # PerfKitBenchmarker aws_dpb_emr_serverless_prices.py (from AWS's price list, 2023)
    "eu-west-3": {"vcpu_hour": 0.06318, "gb_hour": 0.00689},
    "eu-west-1": {"vcpu_hour": 0.052624, "gb_hour": 0.0057785},
}


def rates(region: str, architecture: str = "X86_64") -> dict[str, float] | None:
    """USD per vCPU-hour and per GB-hour in `region` for `architecture`; None where unknown."""
    x86 = X86_PRICES.get(region)
    if x86 is None:
        return None
    factor = ARM_DISCOUNT if architecture.upper() == "ARM64" else 1.0
    return {unit: round(rate * factor, 7) for unit, rate in x86.items()}


def cost_usd(vcpu_hours: float, gb_hours: float, price: dict[str, float]) -> float:
    return vcpu_hours * price["vcpu_hour"] + gb_hours * price["gb_hour"]


@dataclass(frozen=True)
class Billed:
    """A job run's billed resources (GetJobRun's billedResourceUtilization) and their price."""

    vcpu_hours: float
    memory_gb_hours: float
    storage_gb_hours: float
    usd: float | None  # None: no price known for the region
    priced_as: str  # e.g. "eu-west-3 X86_64"

    def summary(self) -> str:
        usage = f"{self.vcpu_hours:.3f} vCPU-hours, {self.memory_gb_hours:.3f} GB-hours"
        if self.storage_gb_hours:
            usage += f", {self.storage_gb_hours:.3f} storage GB-hours (not priced)"
        if self.usd is None:
            return f"{usage}; no price known for {self.priced_as} (pipeline/contract/prices.py)"
        return f"{usage}: about ${self.usd:.2f} at {self.priced_as} prices (pipeline/contract/prices.py)"


def billed(job_run: dict[str, Any], region: str | None = None, architecture: str = "X86_64") -> Billed | None:
    """Price a GetJobRun `jobRun` record; the region defaults to the one in its ARN. None before billing.

    The record may come from boto3 (camelCase: billedResourceUtilization.vCPUHour) or from a
    Step Functions SDK integration, which capitalises every name (BilledResourceUtilization.VCpuHour
    in job_run.json): names are read whatever their case.
    """
    usage = api_field(job_run, "billedResourceUtilization")
    if not isinstance(usage, dict):
        return None
    region = region or _arn_region(str(api_field(job_run, "arn") or ""))
    vcpu, memory = float(api_field(usage, "vCPUHour") or 0.0), float(api_field(usage, "memoryGBHour") or 0.0)
    price = rates(region, architecture) if region else None
    return Billed(
        vcpu_hours=vcpu,
        memory_gb_hours=memory,
        storage_gb_hours=float(api_field(usage, "storageGBHour") or 0.0),
        usd=cost_usd(vcpu, memory, price) if price else None,
        priced_as=f"{region or 'an unknown region'} {architecture}",
    )


def api_field(record: dict[str, Any], name: str) -> Any:
    """record[name] whatever the case of its letters; None when absent.

    boto3 uses the API's camelCase names (vCPUHour); Step Functions' SDK integrations
    capitalise them, and not letter for letter (VCpuHour, MemoryGbHour as moto converts them).
    """
    if name in record:
        return record[name]
    wanted = name.lower()
    return next((value for key, value in record.items() if isinstance(key, str) and key.lower() == wanted), None)


def api_path(record: Any, *names: str) -> Any:
    """record[a][b]... by `api_field`; None when any step is absent or not an object."""
    for name in names:
        record = api_field(record, name) if isinstance(record, dict) else None
    return record


def _arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None
