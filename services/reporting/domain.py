"""The read model's vocabulary: which stage each event marks. Pure Python."""

STAGE_OF_EVENT = {
    "application.submitted": "submitted",
    "verification.completed": "verified",
    "eligibility.deferred": "decision_pending",
    "eligibility.decided": "decided",
    "contract.drafted": "contract_drafted",
    "contract.signed": "contract_signed",
    "payment.scheduled": "payments_scheduled",
}

UNDECIDED_STAGES = ("submitted", "verified", "decision_pending")
