"""Reason codes rendered for people, in English, Russian and Kazakh.

Templates use the reason's own params, so the text always shows the numbers the decision used.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from .decision import REASON_CODES, Reason

LANGUAGES = ("en", "ru", "kk")

_TEMPLATES: dict[str, dict[str, str]] = {
    "INCOME_BELOW_POVERTY_LINE": {
        "en": "Average monthly income per family member, {per_capita_income} ₸, is below the poverty line of {poverty_line} ₸.",
        "ru": "Среднедушевой доход семьи, {per_capita_income} ₸ в месяц, ниже черты бедности {poverty_line} ₸.",
        "kk": "Отбасының жан басына шаққандағы орташа табысы, айына {per_capita_income} ₸, кедейлік шегінен ({poverty_line} ₸) төмен.",
    },
    "INCOME_NOT_BELOW_POVERTY_LINE": {
        "en": "Average monthly income per family member, {per_capita_income} ₸, is not below the poverty line of {poverty_line} ₸.",
        "ru": "Среднедушевой доход семьи, {per_capita_income} ₸ в месяц, не ниже черты бедности {poverty_line} ₸.",
        "kk": "Отбасының жан басына шаққандағы орташа табысы, айына {per_capita_income} ₸, кедейлік шегінен ({poverty_line} ₸) төмен емес.",
    },
    "POVERTY_LINE_FROM_MEDIAN": {
        "en": "The poverty line of {poverty_line} ₸ is {median_share} of the region's median income per capita ({median_income} ₸) for {assessment_quarter}.",
        "ru": "Черта бедности {poverty_line} ₸ — это {median_share} медианного дохода на душу населения региона ({median_income} ₸) за {assessment_quarter}.",
        "kk": "Кедейлік шегі {poverty_line} ₸ — өңірдің {assessment_quarter} кезеңіндегі жан басына шаққандағы медиандық табысының ({median_income} ₸) {median_share} үлесі.",
    },
    "POVERTY_LINE_FROM_SUBSISTENCE": {
        "en": "The poverty line of {poverty_line} ₸ is {subsistence_share} of the region's subsistence minimum ({subsistence_minimum} ₸) for {assessment_quarter}.",
        "ru": "Черта бедности {poverty_line} ₸ — это {subsistence_share} прожиточного минимума региона ({subsistence_minimum} ₸) за {assessment_quarter}.",
        "kk": "Кедейлік шегі {poverty_line} ₸ — өңірдің {assessment_quarter} кезеңіндегі ең төменгі күнкөріс деңгейінің ({subsistence_minimum} ₸) {subsistence_share} үлесі.",
    },
    "UNCONDITIONAL_NO_ABLE_BODIED": {
        "en": "The family has no able-bodied member: assistance is unconditional.",
        "ru": "В семье нет трудоспособных членов: помощь назначается безусловная.",
        "kk": "Отбасында еңбекке қабілетті мүшелер жоқ: көмек шартсыз тағайындалады.",
    },
    "CONDITIONAL_ABLE_BODIED": {
        "en": "The family has {able_bodied_members} able-bodied member(s): assistance is conditional on a signed social contract.",
        "ru": "В семье {able_bodied_members} трудоспособных членов: помощь обусловленная, требуется подписанный социальный контракт.",
        "kk": "Отбасында еңбекке қабілетті {able_bodied_members} мүше бар: көмек шартты, әлеуметтік келісімшартқа қол қою қажет.",
    },
    "CHILD_SUPPLEMENT": {
        "en": "Supplement for children aged 1 to 6: {per_child} ₸ per child per month (up to {children} child(ren)).",
        "ru": "Дополнительная выплата на детей от 1 до 6 лет: {per_child} ₸ на ребёнка в месяц (детей: до {children}).",
        "kk": "1 жастан 6 жасқа дейінгі балаларға қосымша төлем: айына бір балаға {per_child} ₸ (балалар саны: {children} дейін).",
    },
    "BAN_ACTIVE": {
        "en": "A new assignment is barred until {ban_until} after a social contract was terminated or employment measures were refused.",
        "ru": "Новое назначение невозможно до {ban_until}: социальный контракт был расторгнут или от мер содействия занятости отказались.",
        "kk": "Жаңа тағайындау {ban_until} дейін мүмкін емес: әлеуметтік келісімшарт бұзылған немесе жұмыспен қамтуға жәрдемдесу шараларынан бас тартылған.",
    },
    "FALSE_INFORMATION": {
        "en": "A commission established that false information was submitted.",
        "ru": "Комиссия установила представление недостоверных сведений.",
        "kk": "Комиссия жалған мәліметтер ұсынылғанын анықтады.",
    },
    "EXPENSE_PURCHASE": {
        "en": "A home or a car was bought and registered to a family member in the assessment quarter.",
        "ru": "В оцениваемом квартале на члена семьи приобретены и зарегистрированы жильё или автомобиль.",
        "kk": "Бағаланатын тоқсанда отбасы мүшесіне тұрғын үй немесе автокөлік сатып алынып, тіркелген.",
    },
    "EXPENSE_LOANS": {
        "en": "Non-mortgage loans of {non_mortgage_loans} ₸ ({per_member_per_month} ₸ per member per month) exceed the subsistence minimum of {subsistence_minimum} ₸.",
        "ru": "Неипотечные займы на {non_mortgage_loans} ₸ ({per_member_per_month} ₸ на члена семьи в месяц) превышают прожиточный минимум {subsistence_minimum} ₸.",
        "kk": "Ипотекалық емес қарыздар {non_mortgage_loans} ₸ (отбасы мүшесіне айына {per_member_per_month} ₸) ең төменгі күнкөріс деңгейінен ({subsistence_minimum} ₸) асады.",
    },
    "EXPENSE_SPENDING": {
        "en": "Account spending of {account_spending} ₸ ({per_member_per_month} ₸ per member per month) exceeds the poverty line of {poverty_line} ₸.",
        "ru": "Расходы по счетам {account_spending} ₸ ({per_member_per_month} ₸ на члена семьи в месяц) превышают черту бедности {poverty_line} ₸.",
        "kk": "Шоттар бойынша шығыстар {account_spending} ₸ (отбасы мүшесіне айына {per_member_per_month} ₸) кедейлік шегінен ({poverty_line} ₸) асады.",
    },
    "EXPENSE_DEPOSITS": {
        "en": "Savings deposits of {deposits} ₸ exceed {deposit_limit_mci} MCI ({limit} ₸).",
        "ru": "Сберегательные вклады на {deposits} ₸ превышают {deposit_limit_mci} МРП ({limit} ₸).",
        "kk": "Жинақ салымдары {deposits} ₸ {deposit_limit_mci} АЕК-тен ({limit} ₸) асады.",
    },
    "CONSENT_NOT_GIVEN": {
        "en": "Not every adult family member consented to the collection of bank data within one business day.",
        "ru": "Не все совершеннолетние члены семьи дали согласие на сбор банковских сведений в течение одного рабочего дня.",
        "kk": "Отбасының барлық кәмелетке толған мүшелері банктік мәліметтерді жинауға бір жұмыс күні ішінде келісім бермеді.",
    },
    "LARGE_FAMILY_ALLOWANCE": {
        "en": "Large-family allowance for {children} children: {rate_mci} MCI per month.",
        "ru": "Пособие многодетной семье на {children} детей: {rate_mci} МРП в месяц.",
        "kk": "{children} балаға көп балалы отбасыға жәрдемақы: айына {rate_mci} АЕК.",
    },
}

assert set(_TEMPLATES) == set(REASON_CODES)


def _display(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, Decimal)):
        return f"{value:,}".replace(",", "\u202f")  # narrow no-break space groups thousands
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def render(reason: Reason, lang: str = "en") -> str:
    """The reason as a sentence in `lang` ("en", "ru" or "kk")."""
    try:
        template = _TEMPLATES[reason.code][lang]
    except KeyError:
        if reason.code not in _TEMPLATES:
            raise ValueError(f"unknown reason code {reason.code!r}") from None
        raise ValueError(f"unsupported language {lang!r}; expected one of {', '.join(LANGUAGES)}") from None
    return template.format_map({k: _display(v) for k, v in reason.params.items()})
