"""Matching rules: ``rules/matching/*.yaml``, typed and validated on load.

One rule file declares one *pairing* (a left and a right canonical table), the break vocabulary of that
pairing, and its rules in priority order. Every column a rule names is checked against the canonical
schema, so a rule can only ever produce SQL identifiers that exist in ``schemas/``; every value a rule
carries (filter values, prefixes, patterns, tolerances, windows) is bound as a parameter.

A rule compares one *unit* of each side: a single item, or a group of items sharing the ``group_by``
columns (summed). The kind says which side is grouped:

- ``one_to_one``: item against item;
- ``many_to_one``: a group of left items against one right item (``aggregate_to_one`` is its old name);
- ``one_to_many``: one left item against a group of right items (split settlements of one order);
- ``many_to_many``: a group against a group within a key, each at most ``max_group_size`` items;
- ``fuzzy``: item against item on a similarity of references, lower confidence, only after every
  exact rule of its file (its priority must be the file's largest).

Amounts (``amount``): compared in minor units, never floats. ``tolerance_minor`` is absolute;
``tolerance_bps`` is relative to the right unit's amount (``|difference| * 10000 <= bps * |right|``);
the larger of the two applies and the effective tolerance in minor units is recorded on the match.
A ``fee`` column can explain the difference: ``gross - fee = net``. The fee is applied to the item that
carries it: the gross side's item counts ``amount - fee``, the net side's item counts ``amount + fee``.

Currencies (``currency``): equal, or with ``fx`` converted. Conversion step (the only rounding):
each left item's amount (after its own fee) is multiplied by the exact rate into the right unit's
currency and rounded half-even to minor units of that currency, once per item; a group sums its
converted items. The rate is that of the date in the named column (``fx.date``), or the latest rate at
most ``max_rate_age_days`` before it: a direct quote, its inverse, or the cross rate over a common base,
kept as an exact fraction until that single rounding. The rate and its date are recorded on the match.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipelines.core import calendars, schema, yamlfiles
from pipelines.core.channels import RulesError

MATCHABLE_TABLES = ("orders", "psp_settlement_lines", "bank_statement_lines", "payment_status")
Table = Literal["orders", "psp_settlement_lines", "bank_statement_lines", "payment_status"]
Kind = Literal["one_to_one", "one_to_many", "many_to_one", "many_to_many", "fuzzy"]
SideName = Literal["left", "right"]
KIND_ALIASES = {"aggregate_to_one": "many_to_one"}
GROUPED = {"left": ("many_to_one", "many_to_many"), "right": ("one_to_many", "many_to_many")}
NormOp = Literal[
    "trim", "casefold", "strip_punctuation", "remove_spaces", "strip_prefix", "regex_extract", "first_chars"
]
NORMALISATIONS: tuple[str, ...] = NormOp.__args__  # type: ignore[attr-defined]
_PARAM_STEPS = {"strip_prefix": "value", "regex_extract": "value", "first_chars": "n"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NormStep(_Strict):
    """One normalisation of a key: ``trim``, ``casefold``, ``strip_punctuation``, ``remove_spaces``,
    ``{strip_prefix: TEXT}``, ``{regex_extract: PATTERN, group: N}`` (RE2 syntax; no match gives no key),
    ``{first_chars: N}``."""

    op: NormOp
    value: str | None = Field(None, min_length=1, max_length=256, description="prefix or RE2 pattern")
    n: int | None = Field(None, ge=1, le=256, description="number of characters")
    group: int = Field(0, ge=0, le=9, description="capture group of regex_extract (0: the whole match)")

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, raw: Any) -> Any:
        if isinstance(raw, str):
            return {"op": raw}
        if isinstance(raw, dict) and "op" not in raw:
            named = [k for k in raw if k in _PARAM_STEPS]
            extra = [k for k in raw if k not in _PARAM_STEPS and k != "group"]
            if len(named) != 1 or extra:
                raise ValueError(
                    f"a normalisation is one of {', '.join(NORMALISATIONS)}; "
                    "parameterised ones are written {strip_prefix: TEXT}, {regex_extract: PATTERN, group: N} "
                    f"or {{first_chars: N}}; got keys {sorted(raw)}"
                )
            op = named[0]
            if "group" in raw and op != "regex_extract":
                raise ValueError("'group' only goes with regex_extract")
            out: dict[str, Any] = {"op": op, _PARAM_STEPS[op]: raw[op]}
            if "group" in raw:
                out["group"] = raw["group"]
            return out
        return raw

    @model_validator(mode="after")
    def _needs(self) -> NormStep:
        if self.op in ("strip_prefix", "regex_extract") and self.value is None:
            raise ValueError(f"{self.op} needs a text value")
        if self.op == "first_chars" and self.n is None:
            raise ValueError("first_chars needs a number of characters (1 to 256)")
        if self.op not in ("strip_prefix", "regex_extract") and self.value is not None:
            raise ValueError(f"{self.op} takes no text value")
        return self


class _Normalised(_Strict):
    normalise: list[NormStep] = Field(default_factory=list, description="normalisations applied to both sides")
    left_normalise: list[NormStep] | None = Field(
        None, description="normalisations of the left side (replace normalise)"
    )
    right_normalise: list[NormStep] | None = Field(
        None, description="normalisations of the right side (replace normalise)"
    )

    def steps(self, side: str) -> list[NormStep]:
        own = self.left_normalise if side == "left" else self.right_normalise
        return list(own if own is not None else self.normalise)


class KeyPair(_Normalised):
    left: str
    right: str


class Fuzzy(_Normalised):
    """Similarity of two references: jaro_winkler (0 to 1) or levenshtein, as 1 - distance / longer length."""

    left: str
    right: str
    function: Literal["jaro_winkler", "levenshtein"]
    min_similarity: Decimal = Field(
        gt=0, le=1, max_digits=7, decimal_places=6, description="similarity from 0 to 1 (6 decimals at most)"
    )


class Side(_Strict):
    filter: dict[str, list[str]] = Field(
        default_factory=dict, description="column -> allowed values; an item must satisfy every entry"
    )
    group_by: list[str] | None = Field(None, description="grouped kinds: group this side per these columns")
    sum_exclude: dict[str, list[str]] = Field(
        default_factory=dict,
        description="grouped side: members matching this are part of the group but not of its sum",
    )
    ref: str | None = Field(
        None, description="grouped side: the column (of group_by) naming a group in breaks; default: its key columns"
    )


class Fee(_Strict):
    side: SideName
    column: str


class AmountCheck(_Strict):
    left: str
    right: str
    tolerance_minor: int = Field(
        0, ge=0, le=10**12, description="absolute tolerance in minor units of the currency (integer >= 0)"
    )
    tolerance_bps: int = Field(
        0, ge=0, le=10000, description="relative tolerance in basis points of the right amount (0 to 10000)"
    )
    gross_side: SideName | None = Field(None, description="with a fee: the side whose amount is gross (left or right)")
    fee: Fee | None = Field(None, description="a fee column (int64 minor units) explaining gross - fee = net")

    @model_validator(mode="after")
    def _fee(self) -> AmountCheck:
        if (self.fee is None) != (self.gross_side is None):
            raise ValueError("fee and gross_side go together: name the fee column and which side is gross")
        return self


class DateRef(_Strict):
    side: SideName
    column: str


class FxConversion(_Strict):
    date: DateRef = Field(description="the date whose rates convert: a date column of the left or right side")
    max_rate_age_days: int = Field(
        0, ge=0, le=31, description="use the latest rate at most this many calendar days before the date (0 to 31)"
    )


class CurrencyCheck(_Strict):
    left: str
    right: str
    fx: FxConversion | None = Field(None, description="convert the left amount into the right currency")


class DateWindow(_Strict):
    left: str
    right: str
    min_days: int = Field(0, ge=-366, le=366, description="smallest allowed right minus left, in calendar days")
    max_days: int = Field(0, ge=-366, le=366, description="largest allowed right minus left, in calendar days")

    @model_validator(mode="after")
    def _order(self) -> DateWindow:
        if self.min_days > self.max_days:
            raise ValueError(f"min_days ({self.min_days}) is greater than max_days ({self.max_days})")
        return self


class BusinessDateWindow(_Strict):
    left: str
    right: str
    min_days: int = Field(0, ge=-60, le=60, description="smallest allowed right minus left, in business days")
    max_days: int = Field(0, ge=-60, le=60, description="largest allowed right minus left, in business days")
    calendar: str | None = Field(
        None, description="holiday calendar: ISO 3166 country code or financial market code (none: weekends only)"
    )

    @model_validator(mode="after")
    def _order(self) -> BusinessDateWindow:
        if self.min_days > self.max_days:
            raise ValueError(f"min_days ({self.min_days}) is greater than max_days ({self.max_days})")
        return self


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$", description="lower-case letters, digits and _, 2 to 63")
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    priority: int = Field(ge=0, le=100000, description="lower runs first (0 to 100000)")
    kind: Kind = "one_to_one"
    left: Side = Side()
    right: Side = Side()
    keys: list[KeyPair] = Field(default_factory=list)
    fuzzy: Fuzzy | None = None
    amount: AmountCheck
    currency: CurrencyCheck
    date_window_days: DateWindow | None = None
    date_window_business_days: BusinessDateWindow | None = None
    max_group_size: int | None = Field(None, ge=1, le=10000, description="items per group at most (1 to 10000)")

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        if raw.get("kind") in KIND_ALIASES:
            raw["kind"] = KIND_ALIASES[raw["kind"]]
        amount = raw.get("amount")
        if isinstance(amount, dict) and "sum_exclude" in amount:  # earlier place of the left side's sum_exclude
            amount = dict(amount)
            left = dict(raw.get("left") or {})
            left["sum_exclude"] = amount.pop("sum_exclude")
            raw["amount"], raw["left"] = amount, left
        return raw

    def grouped(self, side: str) -> bool:
        return self.kind in GROUPED[side]

    @property
    def date_window(self) -> DateWindow | BusinessDateWindow | None:
        return self.date_window_days or self.date_window_business_days


BreakOrOutcome = str


class BreakVocabulary(_Strict):
    left_unmatched: str
    right_unmatched: str
    amount: str
    currency: str
    status: str = Field(description="the counterpart exists but fails the side filter")
    date: str = "outside_date_window"
    duplicate: str = "duplicate_settlement_line"
    left_duplicate: str | None = Field(
        None, description="with left_duplicates: the break type of a repeated left item, e.g. duplicate_order"
    )
    ambiguous: str = "ambiguous_match"
    left_not_admitted: BreakOrOutcome = "no_applicable_rule"
    right_not_admitted: BreakOrOutcome = "no_applicable_rule"


class PartitionKey(_Strict):
    """Columns whose values split a pairing into independent partitions: a left item pairs only with right
    items of its own value (never across), so each partition can be matched on its own (``recon`` matches the
    partitions of the first pairing as separate tasks, then joins them)."""

    left: str
    right: str

    def column(self, side: str) -> str:
        return self.left if side == "left" else self.right


class Pairing(_Strict):
    left: Table
    right: Table
    breaks: BreakVocabulary
    partition: PartitionKey | None = Field(
        None,
        description="e.g. {left: psp_channel, right: channel}: an order pairs only with lines of its own channel",
    )
    duplicates: list[str] | None = Field(
        None, description="right-side columns whose equal values make later lines duplicates of the first"
    )
    left_duplicates: list[str] | None = Field(
        None,
        description="left-side columns whose equal values make later items duplicates of the first "
        "(breaks.left_duplicate names their break type)",
    )

    def duplicate_columns(self, side: str) -> list[str]:
        """The declared duplicate columns of one side (empty: that side has no duplicates)."""
        return list((self.left_duplicates if side == "left" else self.duplicates) or [])


class RuleFile(_Strict):
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$", description="e.g. 2026.11.1")
    pairing: Pairing
    rules: list[Rule] = Field(min_length=1)

    def ordered(self) -> list[Rule]:
        return sorted(self.rules, key=lambda r: (r.priority, r.id))


class RuleSet(BaseModel):
    """All pairings, each with its rules sorted by priority, plus the version hash of the rules folder."""

    model_config = ConfigDict(frozen=True)

    files: dict[str, RuleFile]

    def kept_break_types(self) -> list[str]:
        """ "duplicate|unmatched" pairs of break types: a duplicate carried into a later run without its original
        keeps its type instead of turning into its pairing's unmatched type."""
        kept = {
            f"{v.duplicate}|{other}"
            for rf in self.files.values()
            for v in [rf.pairing.breaks]
            for other in (v.left_unmatched, v.right_unmatched)
        }
        kept |= {
            f"{v.left_duplicate}|{v.left_unmatched}"
            for rf in self.files.values()
            for v in [rf.pairing.breaks]
            if rf.pairing.left_duplicates and v.left_duplicate
        }
        return sorted(kept)

    def found_break_types(self) -> list[str]:
        """ "status|unmatched" pairs of break types: an item found against a counterpart its rules do not accept (a
        debit of a withdrawal the order system shows as failed), carried into a later run without that counterpart
        (decided by another pairing: the failed order matched its rejection), keeps its type instead of turning
        into its pairing's unmatched type."""
        return sorted(
            {
                f"{v.status}|{v.right_unmatched}"
                for rf in self.files.values()
                for v in [rf.pairing.breaks]
                if v.status not in (v.right_unmatched, v.amount, v.currency)
            }
        )

    version_hash: str

    def pairings(self) -> list[tuple[str, RuleFile]]:
        return sorted(self.files.items(), key=lambda kv: (min(r.priority for r in kv[1].rules), kv[0]))

    def partitioned(self) -> tuple[str, RuleFile] | None:
        """The pairing matched partition by partition (the first pairing, when it declares ``partition``)."""
        first = self.pairings()[0]
        return first if first[1].pairing.partition is not None else None

    def rule(self, rule_id: str) -> tuple[str, RuleFile, Rule] | None:
        for pname, rf in self.pairings():
            for r in rf.rules:
                if r.id == rule_id:
                    return pname, rf, r
        return None


NON_BREAK_OUTCOMES = {"no_settlement_expected"}


# --------------------------------------------------------------------------------------------------
# semantic checks: columns against the canonical schema, kinds against their fields
# --------------------------------------------------------------------------------------------------
def _check_column(tbl: str, col: str, where: str, types: tuple[str, ...] | None = None) -> list[str]:
    t = schema.table(tbl)
    if not t.has(col):
        allowed = [c.name for c in t.columns if not types or c.type in types]
        kind = f" of type {' or '.join(types)}" if types else ""
        return [f"field '{where}': column '{col}' does not exist in table {tbl}; allowed{kind}: {', '.join(allowed)}"]
    if types and t.column(col).type not in types:
        allowed = [c.name for c in t.columns if c.type in types]
        return [
            f"field '{where}': column '{col}' of {tbl} is {t.column(col).type}, expected {' or '.join(types)}; "
            f"allowed: {', '.join(allowed)}"
        ]
    return []


def _regex_errors(pattern: str, group: int, where: str) -> list[str]:
    """The pattern must compile in DuckDB's RE2 (the engine that runs it) and have the requested group."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SELECT regexp_extract('', $p, 0)", {"p": pattern}).fetchall()
    except duckdb.Error as exc:
        return [f"field '{where}': invalid RE2 pattern {pattern!r}: {str(exc).splitlines()[0]}"]
    finally:
        con.close()
    try:
        groups = re.compile(pattern).groups
    except re.error:
        return []
    if group > groups:
        return [f"field '{where}': group {group} but the pattern has {groups} capture group(s)"]
    return []


def _norm_errors(steps: list[NormStep], where: str) -> list[str]:
    e: list[str] = []
    for i, s in enumerate(steps):
        if s.op == "regex_extract" and s.value is not None:
            e += _regex_errors(s.value, s.group, f"{where}[{i}].regex_extract")
    return e


def _normalised_errors(n: _Normalised, where: str) -> list[str]:
    e = _norm_errors(n.normalise, f"{where}.normalise")
    if n.left_normalise is not None:
        e += _norm_errors(n.left_normalise, f"{where}.left_normalise")
    if n.right_normalise is not None:
        e += _norm_errors(n.right_normalise, f"{where}.right_normalise")
    return e


def _rule_errors(rule: Rule, lt: str, rt: str, rf: RuleFile) -> list[str]:
    e: list[str] = []
    tables = {"left": lt, "right": rt}
    for side_name, side, tbl in (("left", rule.left, lt), ("right", rule.right, rt)):
        for col in side.filter:
            e += _check_column(tbl, col, f"{side_name}.filter.{col}", ("string",))
        for col in side.group_by or []:
            e += _check_column(tbl, col, f"{side_name}.group_by", ("string",))
        for col in side.sum_exclude:
            e += _check_column(tbl, col, f"{side_name}.sum_exclude.{col}", ("string",))
        grouped = rule.grouped(side_name)
        if grouped and not side.group_by:
            e.append(f"field '{side_name}.group_by': a {rule.kind} rule groups its {side_name} side; name the columns")
        if not grouped and side.group_by:
            e.append(f"field '{side_name}.group_by': a {rule.kind} rule does not group its {side_name} side")
        if not grouped and side.sum_exclude:
            e.append(f"field '{side_name}.sum_exclude': only a grouped side sums")
        if side.ref is not None and side.ref not in (side.group_by or []):
            e.append(f"field '{side_name}.ref': '{side.ref}' must be one of {side_name}.group_by (a grouped side)")
        for i, k in enumerate(rule.keys):
            col = k.left if side_name == "left" else k.right
            if grouped and col not in (side.group_by or []):
                e.append(f"field 'keys[{i}].{side_name}': '{col}' must be one of {side_name}.group_by")
    for i, k in enumerate(rule.keys):
        e += _check_column(lt, k.left, f"keys[{i}].left", ("string",))
        e += _check_column(rt, k.right, f"keys[{i}].right", ("string",))
        e += _normalised_errors(k, f"keys[{i}]")
    e += _check_column(lt, rule.amount.left, "amount.left", ("int64",))
    e += _check_column(rt, rule.amount.right, "amount.right", ("int64",))
    if rule.amount.fee:
        e += _check_column(tables[rule.amount.fee.side], rule.amount.fee.column, "amount.fee.column", ("int64",))
    e += _check_column(lt, rule.currency.left, "currency.left", ("string",))
    e += _check_column(rt, rule.currency.right, "currency.right", ("string",))
    if rule.currency.fx:
        d = rule.currency.fx.date
        e += _check_column(tables[d.side], d.column, "currency.fx.date.column", ("date",))
    if rule.date_window_days and rule.date_window_business_days:
        e.append("field 'date_window_business_days': give one date window, in days or in business days")
    w = rule.date_window
    if w is not None:
        name = "date_window_days" if rule.date_window_days else "date_window_business_days"
        e += _check_column(lt, w.left, f"{name}.left", ("date",))
        e += _check_column(rt, w.right, f"{name}.right", ("date",))
    bw = rule.date_window_business_days
    why = calendars.unknown(bw.calendar) if bw is not None and bw.calendar is not None else None
    if why:
        e.append(f"field 'date_window_business_days.calendar': {why}")
    if rule.kind == "fuzzy":
        if rule.fuzzy is None:
            e.append("field 'fuzzy': a fuzzy rule needs {left, right, function, min_similarity}")
        else:
            e += _check_column(lt, rule.fuzzy.left, "fuzzy.left", ("string",))
            e += _check_column(rt, rule.fuzzy.right, "fuzzy.right", ("string",))
            e += _normalised_errors(rule.fuzzy, "fuzzy")
        if rule.currency.fx:
            e.append("field 'currency.fx': a fuzzy rule compares equal currencies only")
        exact = [r for r in rf.rules if r.kind != "fuzzy"]
        if exact and rule.priority <= max(r.priority for r in exact):
            e.append(
                f"field 'priority': a fuzzy rule is a last resort; its priority ({rule.priority}) must be greater "
                f"than that of every other rule of the file (largest: {max(r.priority for r in exact)})"
            )
    else:
        if rule.fuzzy is not None:
            e.append(f"field 'fuzzy': only a fuzzy rule compares by similarity (kind is {rule.kind})")
        if not rule.keys:
            e.append(f"field 'keys': a {rule.kind} rule needs at least one key")
    if rule.kind == "many_to_many" and rule.max_group_size is None:
        e.append("field 'max_group_size': a many_to_many rule must bound its groups (items per group, 1 to 10000)")
    if rule.max_group_size is not None and not (rule.grouped("left") or rule.grouped("right")):
        e.append(f"field 'max_group_size': a {rule.kind} rule has no groups")
    return e


def _semantic_errors(rf: RuleFile) -> list[tuple[str, str]]:
    """(rule id, message) pairs for columns and vocabulary that do not fit the canonical schema."""
    errors: list[tuple[str, str]] = []
    lt, rt = rf.pairing.left, rf.pairing.right
    allowed_breaks = set(schema.table("breaks").column("break_type").allowed or ())
    for field_name, value in rf.pairing.breaks.model_dump().items():
        if value is None:
            continue
        if value not in allowed_breaks and not (field_name.endswith("not_admitted") and value in NON_BREAK_OUTCOMES):
            errors.append(
                (
                    "pairing",
                    f"field 'breaks.{field_name}': unknown break type '{value}'; allowed: "
                    f"{', '.join(sorted(allowed_breaks | NON_BREAK_OUTCOMES))}",
                )
            )
    for col in rf.pairing.duplicates or []:
        errors += [("pairing", m) for m in _check_column(rt, col, "duplicates")]
    for col in rf.pairing.left_duplicates or []:
        errors += [("pairing", m) for m in _check_column(lt, col, "left_duplicates")]
    if (part := rf.pairing.partition) is not None:
        errors += [("pairing", m) for m in _check_column(lt, part.left, "partition.left", ("string",))]
        errors += [("pairing", m) for m in _check_column(rt, part.right, "partition.right", ("string",))]
        for rule in rf.rules:
            for side_name in ("left", "right"):
                group_by = (rule.left if side_name == "left" else rule.right).group_by or []
                if rule.grouped(side_name) and part.column(side_name) not in group_by:
                    errors.append(
                        (
                            rule.id,
                            f"field '{side_name}.group_by': the pairing is partitioned by "
                            f"'{part.column(side_name)}'; a group must not span partitions: add it",
                        )
                    )
    if rf.pairing.left_duplicates and rf.pairing.breaks.left_duplicate is None:
        errors.append(
            (
                "pairing",
                "field 'breaks.left_duplicate': left_duplicates is declared; name the break type of a repeated "
                f"{lt} item (e.g. duplicate_order)",
            )
        )
    seen: set[str] = set()
    for rule in rf.rules:
        e: list[str] = []
        if rule.id in seen:
            e.append("field 'id': duplicate rule id")
        seen.add(rule.id)
        e += _rule_errors(rule, lt, rt, rf)
        errors += [(rule.id, m) for m in e]
    return errors


# --------------------------------------------------------------------------------------------------
# error messages: file, rule, field, and what the field accepts
# --------------------------------------------------------------------------------------------------
def _field_info(loc: list[Any]) -> tuple[str | None, list[str]]:
    """Description and allowed field names of the model field at ``loc`` (a RuleFile location)."""
    model: Any = RuleFile
    description: str | None = None
    fields: list[str] = list(RuleFile.model_fields)
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        info = getattr(model, "model_fields", {}).get(part)
        if info is None:
            return None, fields
        description = info.description
        fields = []
        inner = _model_of(info.annotation)
        model = inner
        if inner is not None:
            fields = list(inner.model_fields)
    return description, fields


def _model_of(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        for inner in getattr(candidate, "__args__", ()):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner
    return None


def _pydantic_message(err: Any, loc: list[Any]) -> str:
    msg = str(err["msg"])
    if err["type"] == "extra_forbidden":
        _, fields = _field_info(loc[:-1])
        if fields:
            msg += f"; allowed fields: {', '.join(fields)}"
        return msg
    if err["type"] == "missing":
        description, _ = _field_info(loc)
        return msg + (f" ({description})" if description else "")
    if loc and isinstance(loc[-1], int):  # about one element of a list, not the list
        return msg
    description, _ = _field_info([p for p in loc if not (isinstance(p, str) and p in NORMALISATIONS)])
    if description:
        msg += f"; expected: {description}"
    return msg


def _where(loc: list[Any]) -> str:
    """A field location as rule files are read: ``keys[0].normalise[1]``."""
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        elif p != "op":
            out += f".{p}" if out else str(p)
    return out or "(root)"


def load_rules(rules_dir: Path) -> RuleSet:
    """Load and validate ``rules_dir/matching/*.yaml``; raise RulesError naming file, rule and field."""
    folder = rules_dir / "matching"
    if not folder.is_dir():
        raise RulesError(f"{folder}: matching rules folder is missing")
    files: dict[str, RuleFile] = {}
    errors: list[str] = []
    rule_ids: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            raw: Any = yamlfiles.load(path)
        except yaml.YAMLError as exc:
            errors.append(f"{path}: not valid YAML: {exc}")
            continue
        try:
            rf = RuleFile.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = list(err["loc"])
                rule_label = "file"
                full_loc = list(loc)
                if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                    rules_raw = raw.get("rules") if isinstance(raw, dict) else None
                    rid = "?"
                    if isinstance(rules_raw, list) and loc[1] < len(rules_raw) and isinstance(rules_raw[loc[1]], dict):
                        rid = str(rules_raw[loc[1]].get("id", "?"))
                    rule_label = f"rule {rid}"
                    loc = loc[2:]
                elif loc and loc[0] == "pairing":
                    rule_label = "pairing"
                where = _where(loc)
                errors.append(f"{path}: {rule_label}: field '{where}': {_pydantic_message(err, full_loc)}")
            continue
        for rid, msg in _semantic_errors(rf):
            errors.append(f"{path}: {'pairing' if rid == 'pairing' else 'rule ' + rid}: {msg}")
        for rule in rf.rules:
            if rule.id in rule_ids and rule_ids[rule.id] != path.name:
                errors.append(f"{path}: rule {rule.id}: field 'id': also declared in {rule_ids[rule.id]}")
            rule_ids[rule.id] = path.name
        files[path.name] = rf
    if not files and not errors:
        raise RulesError(f"{folder}: no rule file")
    if files and not errors:
        first = RuleSet(files=files, version_hash="").pairings()[0][0]
        for name, rf in sorted(files.items()):
            if rf.pairing.partition is not None and name != first:
                errors.append(
                    f"{folder / name}: pairing: field 'partition': only the first pairing ({first}, whose rules have "
                    "the lowest priority) can be partitioned: later pairings see what earlier ones set aside"
                )
    if errors:
        raise RulesError("\n".join(errors))
    return RuleSet(files=files, version_hash=rules_version(rules_dir))


def rules_version(rules_dir: Path) -> str:
    """SHA-256 over the names and bytes of every channel and rule file (first 16 hex digits)."""
    h = hashlib.sha256()
    for path in sorted(list((rules_dir / "channels").glob("*.yaml")) + list((rules_dir / "matching").glob("*.yaml"))):
        h.update(str(path.relative_to(rules_dir)).encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]
