"""Log groups: any retention CloudWatch accepts, nothing else; deleted with the stack."""

import pytest
from aws_cdk.assertions import Template

from infra.log_groups import expiring_log_group


def test_retention_in_days_and_deletion(variant_stack) -> None:
    stack, _ = variant_stack()
    expiring_log_group(stack, "Logs", 400)
    (log_group,) = Template.from_stack(stack).find_resources("AWS::Logs::LogGroup").values()
    assert log_group["Properties"] == {"RetentionInDays": 400}
    assert log_group["DeletionPolicy"] == "Delete"


def test_retention_cloudwatch_does_not_accept_is_refused(variant_stack) -> None:
    stack, _ = variant_stack()
    with pytest.raises(ValueError, match="log retention"):
        expiring_log_group(stack, "Logs", 31)
