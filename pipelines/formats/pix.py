"""PIX settlement statement (Brazil's instant payments) to ``psp_settlement_lines``.

Layout, documented here (the Banco Central do Brasil defines the PIX API, not a settlement file): a CSV
export of the received-PIX list of the BCB "API Pix" (``GET /pix``; fields ``endToEndId``, ``txid``,
``valor``, ``horario``, ``devolucoes``), one line per movement, semicolon-separated, UTF-8:

``endToEndId;txid;tipo;valor;tarifa;horario;chave;pagador;devolucaoId``

- ``tipo``: PIX_RECEBIDO (payment received), DEVOLUCAO (refund we sent, ``devolucaoId`` its id and
  ``endToEndId`` the original payment's), MED (refund under the Special Return Mechanism, a chargeback),
  TARIFA (fee), TRANSFERENCIA (transfer of the balance to our bank account, the payout);
- ``valor`` and ``tarifa``: unsigned BRL amounts with a decimal point, as the API writes them (the channel
  declares it); refunds, MED returns, fees and transfers are debits;
- ``horario``: ISO 8601 with offset (``2026-11-26T10:15:00-03:00``).

``endToEndId`` (E + ISPB + timestamp + sequence) is the PSP reference, ``txid`` our charge id (merchant
reference). Sample: ``data_samples/formats/pix/``. The statement has no control total.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.formats.base import ParseContext, ParseResult
from pipelines.formats.psputil import TABLE, SettlementCsv, parse_settlement_csv

CONTROL_TOTALS = None
SPEC = SettlementCsv(
    required=("endToEndId", "tipo", "valor", "horario"),
    type_column="tipo",
    type_map={
        "pix_recebido": "payment",
        "devolucao": "refund",
        "med": "chargeback",
        "tarifa": "fee",
        "transferencia": "payout",
    },
    gross="valor",
    fees=("tarifa",),
    fixed_currency="BRL",
    timestamp="horario",
    psp_reference="endToEndId",
    merchant_reference="txid",
    related_reference="devolucaoId",
    signed=False,
)

__all__ = ["CONTROL_TOTALS", "SPEC", "TABLE", "parse"]


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    return parse_settlement_csv(path, ctx, SPEC)
