"""The ops dashboard's figures (`GET /v1/stats/dashboard`, docs/reporting.md): every section read
from the projections in the scope of the filters and put in the shape the dashboard page reads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import domain, repository
from services.reporting.schemas import (
    BacklogRegionOut,
    BankPaymentsOut,
    BucketOut,
    ConsentOutcomesOut,
    ContractsOut,
    DashboardBacklogOut,
    DashboardOut,
    DashboardRegionOut,
    ExtensionReasonOut,
    ExtensionRegionOut,
    ExtensionSettlementOut,
    ExtensionsOut,
    FunnelChannelOut,
    FunnelCountsOut,
    FunnelOut,
    FunnelRegionOut,
    HeadlineOut,
    LocalisedName,
    MeasureOut,
    MonthPaymentsOut,
    OldestOut,
    PaymentsOut,
    SettlementOut,
    SocialStatusOut,
)
from shared.calendar import utcnow
from shared.regions import KATO, REGIONS, region_level_kato

_FIGURES = ("applications", "decided", "approved", "rejected", "undecided", "withdrawn", "recipient_families",
            "recipient_people", "amount_assigned", "backlog", *domain.SOCIAL_STATUSES)
_FUNNEL = ("invited", "applied", "approved", "paid")


def _summed(rows: Iterable[dict[str, Any]], names: Iterable[str]) -> dict[str, int]:
    names = tuple(names)
    total = dict.fromkeys(names, 0)
    for row in rows:
        for name in names:
            total[name] += row[name]
    return total


def _grouped(rows: list[dict[str, Any]], key: str, names: Iterable[str]) -> dict[str, dict[str, int]]:
    names = tuple(names)
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    return {value: _summed(group, names) for value, group in groups.items()}


def _region_name(prefix: str) -> LocalisedName:
    entry = KATO[region_level_kato(prefix)]
    return LocalisedName(en=entry.name_en, ru=entry.name_ru, kk=entry.name_kk)


_RECIPIENT_FIGURES = ("recipient_families", "recipient_people", "amount_assigned", *domain.SOCIAL_STATUSES)


def _with_recipients(applications: list[dict[str, Any]], recipients: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The applications' figures per region and settlement, their recipient figures replaced by
    those counting extensions too (a region and settlement with extensions only gets a row)."""
    rows = {(row["region"], row["settlement"]): {**row, **dict.fromkeys(_RECIPIENT_FIGURES, 0)} for row in applications}
    for row in recipients:
        key = (row["region"], row["settlement"])
        target = rows.setdefault(key, {"region": key[0], "settlement": key[1], **dict.fromkeys(_FIGURES, 0)})
        target.update({name: row[name] for name in _RECIPIENT_FIGURES})
    return list(rows.values())


def _extensions(rows: list[dict[str, Any]], endings: dict[str, int]) -> ExtensionsOut:
    names = ("extended", "ended", "amount_assigned", "tsa", "child_supplement")
    by_region = _grouped(rows, "region", names)
    by_settlement = _grouped(rows, "settlement", names)
    empty = dict.fromkeys(names, 0)
    return ExtensionsOut(
        **_summed(rows, names),
        ended_by_reason=[ExtensionReasonOut(reason=reason, families=endings[reason])
                         for reason in domain.REFUSING_REASONS if endings.get(reason)],
        by_region=sorted((ExtensionRegionOut(region_kato=region_level_kato(prefix), extended=counts["extended"],
                                             ended=counts["ended"], amount_assigned=counts["amount_assigned"])
                          for prefix, counts in by_region.items()),
                         key=lambda r: (-r.amount_assigned, -r.extended, -r.ended, r.region_kato)),
        settlement=[ExtensionSettlementOut(settlement=s, **{k: by_settlement.get(s, empty)[k] for k in (
            "extended", "ended", "amount_assigned")}) for s in ("urban", "rural")])


async def dashboard(*, session: AsyncSession, quarter: str | None, region_kato: str | None,
                    now: datetime | None = None) -> DashboardOut:
    """Every figure of the ops dashboard, in the scope of the filters; the backlog's ages counted
    in business days (Almaty) up to `now` (the service's clock)."""
    scope = repository.Scope(quarter=quarter, region=region_kato[:2] if region_kato else None)
    today = domain.almaty_date(now or utcnow())
    figures = _with_recipients(await repository.application_figures(session, scope),
                               await repository.recipient_figures(session, scope))
    total = _summed(figures, _FIGURES)
    per_region = _grouped(figures, "region", _FIGURES)
    per_settlement = _grouped(figures, "settlement", _FIGURES)
    empty = dict.fromkeys(_FIGURES, 0)
    regions = sorted(
        (DashboardRegionOut(region_kato=region_level_kato(prefix), name=_region_name(prefix),
                            **{k: per_region.get(prefix, empty)[k] for k in (
                                "applications", "approved", "recipient_families", "recipient_people",
                                "amount_assigned", "backlog")})
         for prefix in REGIONS),
        key=lambda r: (-r.amount_assigned, -r.recipient_people, -r.applications, r.region_kato))

    # The backlog: counted per day of submission, each day's age computed once.
    ages: dict[date, int] = {}
    backlog_regions: dict[str, dict[str, int]] = {prefix: dict.fromkeys(domain.BACKLOG_BUCKETS, 0) for prefix in REGIONS}
    for prefix, submitted_on, count in await repository.backlog_by_day(session, scope):
        if submitted_on not in ages:
            ages[submitted_on] = domain.business_days_since(submitted_on, today)
        bucket = domain.backlog_bucket(ages[submitted_on])
        backlog_regions.setdefault(prefix, dict.fromkeys(domain.BACKLOG_BUCKETS, 0))[bucket] += count
    buckets = _summed(backlog_regions.values(), domain.BACKLOG_BUCKETS)
    oldest = [OldestOut(**row, business_days=domain.business_days_since(domain.almaty_date(row["submitted_at"]), today))
              for row in await repository.oldest_undecided(session, scope)]
    shown_regions = [prefix for prefix in backlog_regions if scope.region is None or prefix == scope.region]
    by_region = sorted(
        (BacklogRegionOut.model_validate({"region_kato": region_level_kato(prefix), **backlog_regions[prefix],
                                          "total": sum(backlog_regions[prefix].values())})
         for prefix in shown_regions),
        key=lambda r: (-r.total, r.region_kato))

    funnel_rows = await repository.fdc_funnel(session, scope)
    contracts = await repository.contract_figures(session, scope)
    measures = await repository.measure_counts(session, scope)
    return DashboardOut(
        quarter=quarter, region_kato=region_kato, as_of=await repository.last_event_at(session),
        headline=HeadlineOut(**{k: total[k] for k in HeadlineOut.model_fields if k != "amount_paid"},
                             amount_paid=await repository.amount_paid(session, scope)),
        regions=regions,
        settlement=[SettlementOut(settlement=s, **{k: per_settlement.get(s, empty)[k] for k in (
            "applications", "recipient_families", "recipient_people", "amount_assigned")})
            for s in ("urban", "rural")],
        social_status=[SocialStatusOut(status=domain.STATUS_NAMES[s], people=total[s]) for s in domain.SOCIAL_STATUSES],
        backlog=DashboardBacklogOut(
            total=sum(buckets.values()),
            buckets=[BucketOut(bucket=b, count=buckets[b]) for b in domain.BACKLOG_BUCKETS],
            by_region=by_region, oldest=oldest),
        consent=ConsentOutcomesOut(**await repository.consent_outcomes(session, scope)),
        fdc_funnel=FunnelOut(
            totals=FunnelCountsOut(**_summed(funnel_rows, _FUNNEL)),
            by_region=sorted((FunnelRegionOut(region_kato=region_level_kato(prefix), **counts)
                              for prefix, counts in _grouped(funnel_rows, "region", _FUNNEL).items()),
                             key=lambda r: r.region_kato),
            by_channel=sorted((FunnelChannelOut(channel=channel, **counts)
                               for channel, counts in _grouped(funnel_rows, "channel", _FUNNEL).items()),
                              key=lambda r: r.channel)),
        contracts=ContractsOut(**contracts, measures=[
            MeasureOut(measure=m, count=c) for m, c in sorted(
                ({m: 0 for m in domain.MEASURES} | measures).items(),
                key=lambda item: (-item[1], domain.MEASURES.index(item[0]) if item[0] in domain.MEASURES else 99,
                                  item[0]))]),
        payments=PaymentsOut(
            by_bank=[BankPaymentsOut(**row) for row in await repository.payment_figures(session, scope, by="bank_code")],
            by_month=[MonthPaymentsOut(**{k: v for k, v in row.items() if k != "amount_ordered"})
                      for row in await repository.payment_figures(session, scope, by="month")]),
        extensions=_extensions(await repository.extension_figures(session, scope),
                               await repository.extension_endings(session, scope)),
    )
