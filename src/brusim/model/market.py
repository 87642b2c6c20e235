"""The word-of-mouth market list: the places users know as markets (docs/ODD.md 7.14).

Users set out for a known market: the `N_MARKETS` nodes with most recent sales. The list is
refreshed hourly (`MarketList.refresh`); sales decay at one rate everywhere, so the ranking only
changes where something was sold, and the new top is found among the old top and the nodes sold
at during the hour (`mark_sold`, `market_candidates`), and from every node once a day.
`pick_markets` chooses a known market for a user by its pull and distance; the pull is the
market's recent sales to the power ``pull_exponent`` (below 1, a market's draw grows less than
in proportion to its sales: docs/model.md, "Does business as usual settle?").
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from brusim.model.jit import kernel, rule
from brusim.model.sorting import sorted_ints

N_MARKETS = 60  # word-of-mouth market list size


class MarketView(NamedTuple):
    """What the users' kernel reads and writes of the market list this step."""

    nodes: np.ndarray  # int64 market nodes
    strength: np.ndarray  # their pull: recent sales to the power ``pull_exponent``
    sold_mask: np.ndarray  # bool (N,): nodes sold at since the last refresh
    sold_nodes: np.ndarray  # int64 (N,): those nodes, the first ``sold_count[0]``
    sold_count: np.ndarray  # int64 (1,)


class MarketList:
    """The market list and the sale sites noted since its last refresh."""

    def __init__(self, n_nodes: int, pull_exponent: float = 1.0):
        self.nodes = np.zeros(0, np.int64)
        self.strength = np.zeros(0)
        self.pull = np.zeros(0)
        self.pull_exponent = float(pull_exponent)
        self._sold = (np.zeros(n_nodes, bool), np.zeros(n_nodes, np.int64),
                      np.zeros(1, np.int64))

    def top(self, sales: np.ndarray, candidates: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        """The `N_MARKETS` nodes with most recent sales (and their sales), among
        ``candidates`` only (default: every node)."""
        k = min(N_MARKETS, len(sales))
        if candidates is None:
            top = np.argpartition(-sales, k - 1)[:k]
        elif len(candidates) > k:
            top = candidates[np.argpartition(-sales[candidates], k - 1)[:k]]
        else:
            top = candidates
        top = top[sales[top] > 0]
        return top.astype(np.int64), sales[top]

    def reset(self, sales: np.ndarray) -> None:
        """Rank every node (start of a run, and daily)."""
        self.nodes, self.strength = self.top(sales)
        self._set_pull()

    def refresh(self, t: int, sales: np.ndarray, steps_per_day: int) -> None:
        """The hourly refresh: from every node once a day, else among the old top and this
        hour's sale sites."""
        if t % steps_per_day == 0:
            self.reset(sales)
            clear_marks(*self._sold)
        else:
            candidates = market_candidates(self.nodes, *self._sold)
            self.nodes, self.strength = self.top(sales, candidates)
        self._set_pull()

    def _set_pull(self) -> None:
        e = self.pull_exponent
        self.pull = self.strength if e == 1.0 else self.strength ** e

    def view(self) -> MarketView:
        return MarketView(self.nodes, self.pull, *self._sold)


def choose_markets(xy32: tuple[np.ndarray, np.ndarray], origin: np.ndarray, markets: np.ndarray,
                   strength: np.ndarray, search_radius_m: float, rng: np.random.Generator,
                   exclude_origin: np.ndarray | None = None) -> np.ndarray:
    """A known market for each origin node (`pick_markets`, with numpy's exponential draws;
    used to seed the users' word of mouth at the start)."""
    if len(markets) == 0 or len(origin) == 0:
        return np.full(len(origin), -1, np.int64)
    race = rng.standard_exponential((len(origin), len(markets)))
    exclude = np.zeros(len(origin), bool) if exclude_origin is None else exclude_origin
    return pick_markets(origin, markets, strength, xy32[0], xy32[1],
                        np.float32(search_radius_m), np.float32(-2.0 / search_radius_m),
                        exclude, race)


@kernel
def pick_markets(origins: np.ndarray, markets: np.ndarray, strength: np.ndarray,
                 x32: np.ndarray, y32: np.ndarray, radius32: np.float32, decay32: np.float32,
                 exclude_origin: np.ndarray, race: np.ndarray) -> np.ndarray:
    """A known market per origin node, by strength × exp(``decay32`` d) within ``radius32``
    (exponential race with the caller's Exp(1) draws ``race``, one per origin and market); -1
    where none is in reach. With ``exclude_origin[i]``, a market less than 1 m from origin
    ``i`` is left out. Single-precision coordinates ``x32``/``y32`` and distances."""
    out = np.full(origins.shape[0], -1, np.int64)
    for i in range(origins.shape[0]):
        ox, oy = x32[origins[i]], y32[origins[i]]
        closest = 1.0 if exclude_origin[i] else -1.0
        best_j = 0
        best = -1.0
        for j in range(markets.shape[0]):
            d = np.hypot(ox - x32[markets[j]], oy - y32[markets[j]])
            w = 0.0
            if d <= radius32 and d >= closest:
                w = strength[j] * np.exp(d * decay32)
            score = w / race[i, j]
            if score > best:
                best = score
                best_j = j
        if best > 0:
            out[i] = markets[best_j]
    return out


@rule
def mark_sold(sites: np.ndarray, mask: np.ndarray, marked: np.ndarray, count: np.ndarray
              ) -> None:
    """Note the nodes in ``sites`` as sold at since the last market-list refresh: ``mask`` per
    node, and the ``count[0]`` distinct nodes so far in ``marked``."""
    for s in sites:
        if not mask[s]:
            mask[s] = True
            marked[count[0]] = s
            count[0] += 1


@kernel
def market_candidates(market_nodes: np.ndarray, mask: np.ndarray, marked: np.ndarray,
                      count: np.ndarray) -> np.ndarray:
    """The current market list and the nodes sold at since the last refresh (`mark_sold`),
    sorted and without repeats (``np.unique`` of both); clears the marks."""
    mark_sold(market_nodes, mask, marked, count)
    out = sorted_ints(marked[: count[0]])
    clear_marks(mask, marked, count)
    return out


@kernel
def clear_marks(mask: np.ndarray, marked: np.ndarray, count: np.ndarray) -> None:
    """Forget the nodes noted by `mark_sold`."""
    for k in range(count[0]):
        mask[marked[k]] = False
    count[0] = 0
