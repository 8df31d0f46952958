"""The label schema: one ordered tuple, everything else is derived from it."""

from __future__ import annotations

#: Labels in model output order. Changing the order changes every saved model's meaning.
LABELS: tuple[str, ...] = (
    "attributed_fact",
    "analyst_claim",
    "unattributed_assertion",
    "other",
)

DEFINITIONS: dict[str, str] = {
    "attributed_fact": "The claim is attributed to an identifiable source: official, ministry, "
    "army, agency, outlet, monitor or NGO, court, document, witness, or a concrete anonymous source.",
    "analyst_claim": "The claim is attributed to analysts, experts, observers, researchers or "
    "think tanks speaking as interpreters.",
    "unattributed_assertion": "The writer's own voice: a claim with no source, or only a vague "
    "non-source ('it is believed', 'reports indicate').",
    "other": "No claim about the world: bylines, section labels, boilerplate, questions to the reader.",
}

#: Kinds of source named in attributed_fact and analyst_claim rows of the corpus.
SOURCE_TYPES: tuple[str, ...] = (
    "official",
    "military_security",
    "agency_outlet",
    "monitor_ngo",
    "document_court",
    "witness_resident",
    "anonymous",
    "expert_analyst",
    "other",
)

LABEL2ID: dict[str, int] = {label: i for i, label in enumerate(LABELS)}
ID2LABEL: dict[int, str] = dict(enumerate(LABELS))
#: Labels whose corpus rows must name their source.
SOURCED_LABELS: frozenset[str] = frozenset({"attributed_fact", "analyst_claim"})

assert set(DEFINITIONS) == set(LABELS), "every label needs a one-line definition"
