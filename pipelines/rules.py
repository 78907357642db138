"""Matching rules: ``rules/matching/*.yaml``, typed and validated on load.

One rule file declares one *pairing* (a left and a right canonical table), the break vocabulary of that
pairing, and its rules in priority order. Every column a rule names is checked against the canonical
schema, so a rule can only ever produce SQL identifiers that exist in ``schemas/``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipelines import schema
from pipelines.channels import RulesError

MATCHABLE_TABLES = ("orders", "psp_settlement_lines", "bank_statement_lines")
Table = Literal["orders", "psp_settlement_lines", "bank_statement_lines"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Side(_Strict):
    filter: dict[str, list[str]] = Field(
        default_factory=dict, description="column -> allowed values; an item must satisfy every entry"
    )
    group_by: list[str] | None = Field(None, description="aggregate the side per these columns")


class KeyPair(_Strict):
    left: str
    right: str


class AmountCheck(_Strict):
    left: str
    right: str
    tolerance_minor: int = Field(0, ge=0, description="absolute tolerance in minor units of the currency")
    sum_exclude: dict[str, list[str]] = Field(
        default_factory=dict,
        description="aggregate rules: members matching this are part of the group but not of its sum",
    )


class CurrencyCheck(_Strict):
    left: str
    right: str


class DateWindow(_Strict):
    left: str
    right: str
    min_days: int = Field(0, ge=-366, le=366, description="smallest allowed right minus left, in days")
    max_days: int = Field(0, ge=-366, le=366, description="largest allowed right minus left, in days")

    @model_validator(mode="after")
    def _order(self) -> DateWindow:
        if self.min_days > self.max_days:
            raise ValueError(f"min_days ({self.min_days}) is greater than max_days ({self.max_days})")
        return self


class Rule(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{1,62}$")
    description: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    priority: int = Field(ge=0, le=100000)
    kind: Literal["one_to_one", "aggregate_to_one"] = "one_to_one"
    left: Side = Side()
    right: Side = Side()
    keys: list[KeyPair] = Field(min_length=1)
    amount: AmountCheck
    currency: CurrencyCheck
    date_window_days: DateWindow | None = None


BreakOrOutcome = str


class BreakVocabulary(_Strict):
    left_unmatched: str
    right_unmatched: str
    amount: str
    currency: str
    status: str = Field(description="the counterpart exists but fails the side filter")
    date: str = "outside_date_window"
    duplicate: str = "duplicate_settlement_line"
    ambiguous: str = "ambiguous_match"
    left_not_admitted: BreakOrOutcome = "no_applicable_rule"
    right_not_admitted: BreakOrOutcome = "no_applicable_rule"


class Pairing(_Strict):
    left: Table
    right: Table
    breaks: BreakVocabulary
    duplicates: list[str] | None = Field(
        None, description="right-side columns whose equal values make later lines duplicates of the first"
    )


class RuleFile(_Strict):
    version: str = Field(min_length=1)
    pairing: Pairing
    rules: list[Rule] = Field(min_length=1)


class RuleSet(BaseModel):
    """All pairings, each with its rules sorted by priority, plus the version hash of the rules folder."""

    model_config = ConfigDict(frozen=True)

    files: dict[str, RuleFile]
    version_hash: str

    def pairings(self) -> list[tuple[str, RuleFile]]:
        return sorted(self.files.items(), key=lambda kv: (min(r.priority for r in kv[1].rules), kv[0]))


NON_BREAK_OUTCOMES = {"no_settlement_expected"}


def _check_column(tbl: str, col: str, where: str, types: tuple[str, ...] | None = None) -> list[str]:
    t = schema.table(tbl)
    if not t.has(col):
        return [f"field '{where}': column '{col}' does not exist in table {tbl}; allowed: {', '.join(t.column_names)}"]
    if types and t.column(col).type not in types:
        return [f"field '{where}': column '{col}' of {tbl} is {t.column(col).type}, expected {' or '.join(types)}"]
    return []


def _semantic_errors(rf: RuleFile) -> list[tuple[str, str]]:
    """(rule id, message) pairs for columns and vocabulary that do not fit the canonical schema."""
    errors: list[tuple[str, str]] = []
    lt, rt = rf.pairing.left, rf.pairing.right
    allowed_breaks = set(schema.table("breaks").column("break_type").allowed or ())
    for field_name, value in rf.pairing.breaks.model_dump().items():
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
    seen: set[str] = set()
    for rule in rf.rules:
        e: list[str] = []
        if rule.id in seen:
            e.append("field 'id': duplicate rule id")
        seen.add(rule.id)
        for side_name, side, tbl in (("left", rule.left, lt), ("right", rule.right, rt)):
            for col in side.filter:
                e += _check_column(tbl, col, f"{side_name}.filter.{col}", ("string",))
            for col in side.group_by or []:
                e += _check_column(tbl, col, f"{side_name}.group_by", ("string",))
        for i, k in enumerate(rule.keys):
            e += _check_column(lt, k.left, f"keys[{i}].left", ("string",))
            e += _check_column(rt, k.right, f"keys[{i}].right", ("string",))
        e += _check_column(lt, rule.amount.left, "amount.left", ("int64",))
        e += _check_column(rt, rule.amount.right, "amount.right", ("int64",))
        for col in rule.amount.sum_exclude:
            e += _check_column(lt, col, f"amount.sum_exclude.{col}", ("string",))
        e += _check_column(lt, rule.currency.left, "currency.left", ("string",))
        e += _check_column(rt, rule.currency.right, "currency.right", ("string",))
        if rule.date_window_days:
            e += _check_column(lt, rule.date_window_days.left, "date_window_days.left", ("date",))
            e += _check_column(rt, rule.date_window_days.right, "date_window_days.right", ("date",))
        if rule.kind == "aggregate_to_one" and not rule.left.group_by:
            e.append("field 'left.group_by': an aggregate_to_one rule must group its left side")
        if rule.kind == "aggregate_to_one":
            for i, k in enumerate(rule.keys):
                if k.left not in (rule.left.group_by or []):
                    e.append(f"field 'keys[{i}].left': '{k.left}' must be one of left.group_by")
        if rule.kind == "one_to_one" and (rule.left.group_by or rule.right.group_by):
            e.append("field 'group_by': a one_to_one rule cannot group")
        if rule.kind == "one_to_one" and rule.amount.sum_exclude:
            e.append("field 'amount.sum_exclude': only aggregate_to_one rules sum")
        errors += [(rule.id, m) for m in e]
    return errors


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
            raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            errors.append(f"{path}: not valid YAML: {exc}")
            continue
        try:
            rf = RuleFile.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                loc = list(err["loc"])
                rule_label = "file"
                if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                    rules_raw = raw.get("rules") if isinstance(raw, dict) else None
                    rid = "?"
                    if isinstance(rules_raw, list) and loc[1] < len(rules_raw) and isinstance(rules_raw[loc[1]], dict):
                        rid = str(rules_raw[loc[1]].get("id", "?"))
                    rule_label = f"rule {rid}"
                    loc = loc[2:]
                where = ".".join(str(p) for p in loc) or "(root)"
                errors.append(f"{path}: {rule_label}: field '{where}': {err['msg']}")
            continue
        for rid, msg in _semantic_errors(rf):
            errors.append(f"{path}: {'pairing' if rid == 'pairing' else 'rule ' + rid}: {msg}")
        for rule in rf.rules:
            if rule.id in rule_ids and rule_ids[rule.id] != path.name:
                errors.append(f"{path}: rule {rule.id}: field 'id': also declared in {rule_ids[rule.id]}")
            rule_ids[rule.id] = path.name
        files[path.name] = rf
    if errors:
        raise RulesError("\n".join(errors))
    if not files:
        raise RulesError(f"{folder}: no rule file")
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
