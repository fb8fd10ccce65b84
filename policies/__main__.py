"""The `engram-sop` policy pack server: `pulumi preview --policy-pack policies`.

Builds the pack and nothing else. `PolicyPack(...)` serves the analyzer and never returns, so no
module imports this file: rules live in `policies.rules`, the offline gate in `policies.gate`.
"""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

# The pack runs from its own directory with its own virtualenv, where `policies` is not installed:
# import the rules package relative to this file so the pack stands alone.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules import all_policies  # noqa: E402
from rules.common import PACK_NAME  # noqa: E402

PolicyPack(
    name=PACK_NAME,
    policies=all_policies(),
    enforcement_level=EnforcementLevel.MANDATORY,
    description=(
        "Engram SOP controls for the five environments (staging, dev, test, uat, prod) and customer stacks."
    ),
    display_name="Engram SOP",
    provider="azure",
    tags=["engram", "sop", "azure"],
)
