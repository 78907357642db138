"""What the sample day is made of: parties, channels and currencies, the file layouts, the planted cases,
the price profiles and the fee tables of the PSPs, the FX reference rates."""

from __future__ import annotations

from dataclasses import dataclass

# --- Parties and channels -------------------------------------------------------------------------

COMPANY_ACCOUNT = "PayPlatform"
MERCHANT_ACCOUNT = "PayPlatformEU"
STRIPE_ACCOUNT = "acct_1PpLtfEU7vQm2Kx9"
ADYEN_CHANNEL = "adyen_eu"
STRIPE_CHANNEL = "stripe_eu"
BANK_NAME = "ING Bank N.V."
BANK_BIC = "INGBNL2A"
ACCOUNT_OWNER = "PayPlatform Europe B.V."
ADYEN_PAYER = "Adyen N.V."
STRIPE_PAYER = "Stripe Payments Europe Ltd"
SETTLEMENT_ZONE = "Europe/Amsterdam"

CURRENCIES = ("EUR", "GBP", "BRL", "MXN", "CLP", "USD")
EUR, GBP, BRL, MXN, CLP, USD = range(6)
ADYEN, STRIPE = 0, 1
PSP_CHANNELS = (ADYEN_CHANNEL, STRIPE_CHANNEL)
ADYEN_CURRENCIES = (EUR, GBP, BRL, CLP)
STRIPE_CURRENCIES = (EUR, GBP, MXN)
BANK_CURRENCIES = (EUR, GBP, BRL, MXN, CLP, USD)  # USD: the account the ACH withdrawals are paid from

# (psp, currency, thousandths of the orders): 60 % Adyen, 40 % Stripe
MIX = (
    (ADYEN, EUR, 270),
    (ADYEN, GBP, 150),
    (ADYEN, BRL, 108),
    (ADYEN, CLP, 72),
    (STRIPE, EUR, 220),
    (STRIPE, GBP, 100),
    (STRIPE, MXN, 80),
)
STATUSES = ("succeeded", "failed", "expired")
SUCCEEDED, FAILED, EXPIRED = range(3)

MIN_ORDERS = 50
MIN_ORDERS_PLANTED = 200

# --- File layouts ---------------------------------------------------------------------------------

ORDERS_HEADER = (
    "order_id",
    "psp_channel",
    "psp_reference",
    "merchant_account",
    "status",
    "amount",
    "currency",
    "created_at",
    "direction",
    "payment_method",
    "country",
)
ADYEN_HEADER = (
    "Company Account",
    "Merchant Account",
    "Psp Reference",
    "Merchant Reference",
    "Payment Method",
    "Creation Date",
    "TimeZone",
    "Type",
    "Modification Reference",
    "Gross Currency",
    "Gross Debit (GC)",
    "Gross Credit (GC)",
    "Exchange Rate",
    "Net Currency",
    "Net Debit (NC)",
    "Net Credit (NC)",
    "Commission (NC)",
    "Markup (NC)",
    "Scheme Fees (NC)",
    "Interchange (NC)",
    "Payment Method Variant",
    "Modification Merchant Reference",
    "Batch Number",
    "Reserved4",
    "Reserved5",
    "Reserved6",
    "Reserved7",
    "Reserved8",
    "Reserved9",
    "Reserved10",
    "Booking Date",
    "Booking Date TimeZone",
)
STRIPE_HEADER = (
    "automatic_payout_id",
    "automatic_payout_effective_at",
    "balance_transaction_id",
    "created_utc",
    "created",
    "available_on_utc",
    "available_on",
    "currency",
    "gross",
    "fee",
    "net",
    "reporting_category",
    "source_id",
    "description",
    "customer_facing_amount",
    "customer_facing_currency",
    "charge_id",
    "payment_intent_id",
    "charge_created",
    "payment_method_type",
    "card_brand",
    "payment_metadata[order_id]",
)
FX_HEADER = ("rate_date", "base_currency", "quote_currency", "rate")
CAMT_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"

# --- What is planted ------------------------------------------------------------------------------

BREAK_TYPES = (
    "psp_line_without_order",
    "order_not_settled",
    "amount_mismatch",
    "currency_mismatch",
    "status_mismatch",
    "outside_date_window",
    "duplicate_settlement_line",
    "payout_amount_mismatch",
    "payout_without_bank_credit",
    "bank_credit_without_payout",
    "bank_debit_unexplained",
)
PLANTED_BREAKS: dict[str, int] = {
    "psp_line_without_order": 2,
    "order_not_settled": 3,
    "amount_mismatch": 2,
    "currency_mismatch": 1,
    "status_mismatch": 2,
    "outside_date_window": 0,
    "duplicate_settlement_line": 1,
    "payout_amount_mismatch": 1,
    "payout_without_bank_credit": 1,
    "bank_credit_without_payout": 1,
    "bank_debit_unexplained": 1,
}
TOLERANCE_MINOR = 2  # the tolerance rule the two near-miss lines are meant for
PAYOUT_SHORTFALL_MINOR = 1000  # the MXN Stripe payout arrives 10.00 short
BAD_ORDER_AMOUNT = "12.3x"
BAD_ADYEN_AMOUNT = "10.123"
BAD_ADYEN_GROSS_MINOR = 1012  # the line's other amounts are those of a 10.12 EUR payment
BAD_ADYEN_CURRENCY = "XYZ"

# order roles
SETTLED, NO_SETTLEMENT, NOT_SETTLED, TOLERANCE, AMOUNT, CURRENCY, STATUS, DUPLICATED, BAD_ID, BAD_AMOUNT = range(10)
ROLE_TAGS = {
    NOT_SETTLED: "order_not_settled",
    TOLERANCE: "tolerance_match",
    AMOUNT: "amount_mismatch",
    CURRENCY: "currency_mismatch",
    STATUS: "status_mismatch",
    DUPLICATED: "duplicated",
    BAD_ID: "bad_order_id",
    BAD_AMOUNT: "bad_amount",
}
SETTLING_ROLES = (SETTLED, TOLERANCE, AMOUNT, CURRENCY, STATUS, DUPLICATED)


@dataclass(frozen=True)
class _PlantedOrder:
    role: int
    psp: int
    currency: int
    status: int = SUCCEEDED
    line_currency: int | None = None
    delta: int = 0  # settlement gross minus order amount, minor units
    shift: int = 0  # +1 / -1: the gross differs by about a quarter of the amount (at least 2.00)


PLANTED_ORDERS = (
    _PlantedOrder(NOT_SETTLED, ADYEN, EUR),
    _PlantedOrder(NOT_SETTLED, ADYEN, BRL),
    _PlantedOrder(NOT_SETTLED, STRIPE, GBP),
    _PlantedOrder(TOLERANCE, ADYEN, EUR, delta=1),
    _PlantedOrder(TOLERANCE, STRIPE, GBP, delta=-1),
    _PlantedOrder(AMOUNT, ADYEN, BRL, shift=1),
    _PlantedOrder(AMOUNT, STRIPE, MXN, shift=-1),
    _PlantedOrder(CURRENCY, ADYEN, EUR, line_currency=GBP),
    _PlantedOrder(STATUS, ADYEN, EUR, status=FAILED),
    _PlantedOrder(STATUS, STRIPE, EUR, status=EXPIRED),
    _PlantedOrder(DUPLICATED, ADYEN, EUR),
    _PlantedOrder(BAD_ID, STRIPE, EUR),
    _PlantedOrder(BAD_AMOUNT, ADYEN, GBP),
)
# settlement lines without an order of the file: (tag, psp, currency)
PLANTED_LINES = (
    ("psp_line_without_order", ADYEN, GBP),
    ("psp_line_without_order", STRIPE, EUR),
    ("bad_amount", ADYEN, EUR),
    ("bad_currency", ADYEN, GBP),
)

# --- Amounts, fees --------------------------------------------------------------------------------

ANY_ENDING = -999  # ending sentinel: any value in [0, scale)


@dataclass(frozen=True)
class _Profile:
    """Price points of a currency: major steps drawn per tier, then an ending added to step * scale."""

    scale: int
    tiers: tuple[tuple[int, int], ...]
    tier_p: tuple[float, ...]
    endings: tuple[int, ...]
    ending_p: tuple[float, ...]


PROFILES = {
    EUR: _Profile(
        100,
        ((5, 60), (60, 250), (250, 1500)),
        (0.62, 0.30, 0.08),
        (0, 50, 90, 95, 99, ANY_ENDING),
        (0.25, 0.10, 0.15, 0.15, 0.20, 0.15),
    ),
    GBP: _Profile(
        100,
        ((4, 50), (50, 200), (200, 1200)),
        (0.62, 0.30, 0.08),
        (0, 50, 95, 99, ANY_ENDING),
        (0.30, 0.10, 0.15, 0.30, 0.15),
    ),
    BRL: _Profile(
        100, ((20, 200), (200, 900), (900, 6000)), (0.60, 0.30, 0.10), (90, 0, 99, ANY_ENDING), (0.45, 0.20, 0.20, 0.15)
    ),
    MXN: _Profile(
        100,
        ((99, 1500), (1500, 5000), (5000, 30000)),
        (0.60, 0.30, 0.10),
        (0, 99, 50, ANY_ENDING),
        (0.40, 0.30, 0.15, 0.15),
    ),
    CLP: _Profile(1000, ((2, 40), (40, 200), (200, 1200)), (0.60, 0.30, 0.10), (-10, 0), (0.70, 0.30)),
}

ADYEN_METHODS = ("visa", "mc", "amex", "ideal", "elo", "pix")
VISA, MC, AMEX, IDEAL, ELO, PIX = range(6)
ADYEN_VARIANTS = {
    VISA: ("visastandardcredit", "visastandarddebit"),
    MC: ("mcstandardcredit", "mcstandarddebit"),
    AMEX: ("amex",),
    IDEAL: ("idealing", "idealrabobank", "idealabnamro"),
    ELO: ("elo",),
    PIX: ("pix",),
}
ADYEN_METHOD_MIX = {
    EUR: ((VISA, MC, AMEX, IDEAL), (0.40, 0.30, 0.07, 0.23)),
    GBP: ((VISA, MC, AMEX), (0.50, 0.38, 0.12)),
    BRL: ((VISA, MC, ELO, PIX), (0.35, 0.30, 0.10, 0.25)),
    CLP: ((VISA, MC, AMEX), (0.50, 0.40, 0.10)),
}
# card fees in basis points of the gross, per settlement currency
INTERCHANGE_BPS = {"EUR": 20, "GBP": 20, "BRL": 150, "CLP": 120}  # + 10 on credit cards
SCHEME_BPS = {"EUR": 4, "GBP": 4, "BRL": 9, "CLP": 8}
MARKUP_BPS = {"EUR": 60, "GBP": 60, "BRL": 90, "CLP": 80}
AMEX_COMMISSION_BPS = 250
PIX_COMMISSION_BPS = 99
IDEAL_COMMISSION_MINOR = 25
ADYEN_BATCH_FEE_MINOR = {"EUR": 10, "GBP": 10, "BRL": 40, "CLP": 90}  # per settled payment, daily Fee line

STRIPE_METHOD_MIX = {
    EUR: (("card", "ideal", "bancontact"), (0.84, 0.11, 0.05)),
    GBP: (("card",), (1.0,)),
    MXN: (("card", "oxxo"), (0.86, 0.14)),
}
STRIPE_BRANDS = (("visa", "mastercard", "amex"), (0.56, 0.34, 0.10))
# (basis points, fixed minor units) per (currency, method)
STRIPE_FEES = {
    ("EUR", "card"): (150, 25),
    ("EUR", "ideal"): (0, 29),
    ("EUR", "bancontact"): (0, 35),
    ("GBP", "card"): (150, 20),
    ("MXN", "card"): (360, 300),
    ("MXN", "oxxo"): (360, 300),
}

# EUR reference rates (quote units per EUR, as decimal text) before the day's small move
FX_BASE = (
    ("GBP", "0.8412", 4),
    ("BRL", "6.1245", 4),
    ("MXN", "21.3408", 4),
    ("CLP", "1012.35", 2),
    ("USD", "1.0487", 4),
    ("JPY", "161.42", 2),
    ("BHD", "0.39542", 5),
)

# --- Withdrawals (money the platform sends to customers' bank accounts over a rail) ----------------

SEPA, PIX_RAIL, ACH = range(3)
RAIL_CHANNELS = ("sepa_out", "pix_out", "ach_out")
RAIL_CURRENCY = {SEPA: EUR, PIX_RAIL: BRL, ACH: USD}
RAIL_METHODS = ("sepa_credit_transfer", "pix", "ach")
RAIL_CODES = {SEPA: ("PMNT", "ICDT", "ESCT"), PIX_RAIL: ("PMNT", "ICDT", "DMCT"), ACH: ("PMNT", "ICDT", "ACDT")}
SEPA_COUNTRIES = ("NL", "DE", "FR", "BE", "ES", "IT")
RAIL_COUNTRY = {PIX_RAIL: "BR", ACH: "US"}
# pay-in countries by currency (EUR: drawn from SEPA_COUNTRIES)
PAYIN_COUNTRY = {GBP: "GB", BRL: "BR", MXN: "MX", CLP: "CL"}
# a PSP's payment method as the order system names it
ORDER_METHODS = {"visa": "card", "mc": "card", "amex": "card", "elo": "card"}
SEPA_BANK = "ING Bank N.V."
PIX_BANK = "Banco Itau S.A."  # the ISPB participant the PIX transfers leave from
ACH_ODFI = "JPMORGAN CHASE BANK"
ACH_ODFI_ROUTING = "021000021"
ACH_COMPANY_ID = "1987654321"
ACH_COMPANY_NAME = "PAYPLATFORM US"
PAIN002_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"

WITHDRAWAL_BREAK_TYPES = (
    "withdrawal_not_executed",
    "withdrawal_rejected_but_debited",
    "withdrawal_debited_twice",
    "withdrawal_returned",
    "debit_without_withdrawal",
    "withdrawal_amount_mismatch",
    "withdrawal_currency_mismatch",
    "withdrawal_status_mismatch",
)


@dataclass(frozen=True)
class Withdrawal:
    """One withdrawal of the day and what its rail and the bank say about it.

    ``tag``: the planted case (a break type, or a clean outcome: ``withdrawal_executed``,
    ``withdrawal_pending``, ``withdrawal_rejected``, ``withdrawal_return_refunded``). ``report``: the pain.002
    transaction status (SEPA, PIX; ACH originations are always acknowledged in the NACHA file) or None.
    ``debits``: bank debits booked for it; ``debit_delta`` / ``debit_currency``: a debit that differs.
    ``returned``: the NACHA return reason code of a returned ACH credit."""

    tag: str
    rail: int
    status: str = "succeeded"
    report: str | None = "ACCP"
    reason: str | None = None
    debits: int = 1
    debit_delta: int = 0
    debit_currency: int | None = None
    returned: str | None = None


# executed cleanly whether or not cases are planted: accepted (or acknowledged) and debited once
CLEAN_WITHDRAWALS = (
    *(Withdrawal("withdrawal_executed", SEPA, report="ACSC") for _ in range(6)),
    *(Withdrawal("withdrawal_executed", PIX_RAIL, report="ACSC") for _ in range(4)),
    *(Withdrawal("withdrawal_executed", ACH, report=None) for _ in range(3)),
)
PLANTED_WITHDRAWALS = (
    # accepted, not debited yet: pending within SEPA's window of 1 TARGET2 day (no break)
    Withdrawal("withdrawal_pending", SEPA, status="pending", report="ACSP", debits=0),
    # rejected, failed in the order system, not debited: the rejection matches the failed order
    Withdrawal("withdrawal_rejected", SEPA, status="failed", report="RJCT", reason="AC01", debits=0),
    Withdrawal("withdrawal_rejected_but_debited", SEPA, status="failed", report="RJCT", reason="AC04"),
    Withdrawal("withdrawal_debited_twice", SEPA, debits=2),
    Withdrawal("withdrawal_amount_mismatch", SEPA, debit_delta=250),
    Withdrawal("withdrawal_currency_mismatch", SEPA, debit_currency=GBP),
    # rejected by the bank while the order system shows it succeeded; no debit (pending within the window)
    Withdrawal("withdrawal_status_mismatch", SEPA, report="RJCT", reason="AM05", debits=0),
    # PIX is instant (window 0): accepted but not debited by the day's end
    Withdrawal("withdrawal_not_executed", PIX_RAIL, report="ACSC", debits=0),
    # ACH credits returned by the receiving bank (NACHA addenda 99)
    Withdrawal("withdrawal_returned", ACH, report=None, returned="R03"),
    Withdrawal("withdrawal_return_refunded", ACH, status="refunded", report=None, returned="R02"),
)
PLANTED_WITHDRAWAL_BREAKS: dict[str, int] = dict.fromkeys(WITHDRAWAL_BREAK_TYPES, 1)
UNKNOWN_DEBIT_MINOR = 48_000  # the EUR debit no withdrawal explains (debit_without_withdrawal)
REASON_TEXT = {
    "AC01": "Incorrect account number",
    "AC04": "Closed account number",
    "AM05": "Duplication",
    "R02": "Account closed",
    "R03": "No account/unable to locate account",
}
CUSTOMERS = (
    "Anna de Vries",
    "Lukas Schneider",
    "Camille Martin",
    "Joao Pereira",
    "Mariana Souza",
    "Emily Johnson",
    "Lucia Garcia",
    "Marco Rossi",
    "Pieter Janssens",
    "Michael Brown",
    "Sophie Dubois",
    "Rafael Lima",
)
