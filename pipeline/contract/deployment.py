"""Where the pipeline is deployed: the EU region rule and the stack's name.

Shared by the CDK app (infra/config.py, app.py) and the cloud client (pipeline/cloud/),
so that both refuse the same regions with the same words and find the same stack.
Pure Python: it also ships to the EMR workers inside the job package.
"""

from __future__ import annotations

# AWS regions located in EU member states. eu-west-2 (London) and eu-central-2
# (Zurich) are outside the EU and are refused, even though their GDPR adequacy
# decisions exist: the product promises EU residency, not adequacy.
EU_REGIONS = frozenset({"eu-west-1", "eu-west-3", "eu-central-1", "eu-north-1", "eu-south-1", "eu-south-2"})
DEFAULT_REGION = "eu-west-3"
STACK_NAME = "FruitsPipeline"


def region_refusal(region: str, how_to_choose: str) -> str | None:
    """Why `region` is refused (None for an EU region); `how_to_choose` names the option to fix it."""
    if region in EU_REGIONS:
        return None
    return (
        f"Region {region!r} is not in the EU: the photos fall under the GDPR, "
        f"so this app deploys only to {', '.join(sorted(EU_REGIONS))} "
        f"({how_to_choose}; default {DEFAULT_REGION})."
    )
