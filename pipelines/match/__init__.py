"""Match: the rules of ``rules/matching`` compiled to SQL and run in DuckDB, rule by rule in priority order.

``rules`` is the typed rule model (checked against ``schemas/`` on load); ``load`` puts a date's items into
DuckDB; ``compile`` turns rules into SQL; ``engine`` runs the pairings; ``classify`` names the breaks of
what stayed unmatched, ties and ambiguity included; ``explain`` says why an item matched or not, and
``diff`` what new rules would change.

Guarantees: an item consumed by a rule is not offered to later rules; a pair is taken only when each side
is the other's unique best candidate (a tie is an ``ambiguous_match`` break, never settled by row order);
every match records the rule and the tolerance used; an item repeating an earlier one on its side's declared
duplicate columns (``duplicates``, ``left_duplicates``) is set aside before any rule and ends as a duplicate
break naming the first, which is matched as any other item.
"""
