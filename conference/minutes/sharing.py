"""Which kinds of information minutes hold, and the notice they must carry. Pure.

Consent is given per information class, so before minutes are shared the consent policy is asked
about every class they contain. Substance use treatment information (42 CFR Part 2) is counted
when the author marks it, and also when a risk flag names a substance use relapse: that flag is
itself such information, whether or not the mark was remembered. Every rendering of minutes that
hold it carries the redisclosure notice of 42 CFR 2.32.
"""

from __future__ import annotations

from conference.consent.policy import InformationClass
from conference.consent.wording import REDISCLOSURE_NOTICE
from conference.minutes.content import AnyContent, MinutesContent
from conference.plans import changes

__all__ = ["REDISCLOSURE_NOTICE", "holds_substance_use", "information_classes", "redisclosure_notice"]


def holds_substance_use(content: AnyContent) -> bool:
    return content.includes_substance_use or any(flag.kind == "substance_use_relapse" for flag in content.risk_flags)


def information_classes(content: MinutesContent) -> frozenset[InformationClass]:
    """Every class a recipient must be covered for: general always, medication when a plan change
    touches medication, substance use as above."""
    classes = {InformationClass.GENERAL} | set(changes.information_classes(content.proposed_changes))
    if holds_substance_use(content):
        classes.add(InformationClass.SUBSTANCE_USE)
    return frozenset(classes)


def redisclosure_notice(content: AnyContent) -> str | None:
    """The Part 2 notice when these minutes must carry it, else None."""
    return REDISCLOSURE_NOTICE if holds_substance_use(content) else None
