"""Words every service uses the same way (rules.md)."""

# Income types (rules.md, step 2). Which of them count is a parameter, not this list.
INCOME_TYPES = (
    "wage", "business", "pension", "benefit", "alimony", "rent", "interest", "farming",
    "employment_measure", "other",
    "large_family_allowance", "disabled_child_allowance", "scholarship", "tsa", "disaster_aid",
)
