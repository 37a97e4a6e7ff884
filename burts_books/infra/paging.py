"""One page of a long list, as the staff pages show them: its items, and where it lies among the rest."""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Paged:
    items: list[dict]
    total: int  # items on every page together
    number: int  # this page's, from 1
    size: int  # items a page holds

    @property
    def count(self) -> int:
        return max(1, math.ceil(self.total / self.size))
