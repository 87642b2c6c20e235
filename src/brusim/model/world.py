"""The street world the agents share: node coordinates, neighbourhoods, static attractors and
the decaying fields every rule reads (police exposure, arrests remembered, sales, unserved
demand), and the one perceived-risk formula.

`World` holds them; kernels receive its `Fields` (arrays updated in place).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from brusim.errors import ConfigError
from brusim.map import StreetMap
from brusim.model.clock import Clock
from brusim.model.jit import kernel, rule
from brusim.model.spatial import Ball, node_xy32

FOOTFALL_RADIUS_M = 300.0  # station footfall spreads this far (also in brusim.config.validate)


class Fields(NamedTuple):
    """Per-node fields, decayed every step; ``demand_near`` has one spare slot (index N) for
    the padded balls' sentinel."""

    presence: np.ndarray  # decayed police exposure seen from each node
    arrest_memory: np.ndarray  # decayed exposure to peers' arrests
    sales: np.ndarray  # decayed sales count
    unserved: np.ndarray  # decayed failed-search count
    demand_near: np.ndarray  # (N+1,) market-radius sum of weighted sales + unserved, per hour


class Balls(NamedTuple):
    """Straight-line neighbourhoods of every node, one per radius the rules use."""

    market: Ball  # sellers competing for the same buyers (behaviour.dealers.market_radius_m)
    aware: Ball  # sites a dealer knows (behaviour.dealers.awareness_m)
    sight: Ball  # police seen (police.sight_m)
    arrest: Ball  # police able to arrest (police.arrest_m)
    purchase: Ball  # sellers a buyer finds (behaviour.users.purchase_radius_m)
    contact: Ball  # users an outreach worker meets (behaviour.outreach.contact_radius_m)


@rule(inline=True)
def perceived_risk(presence: np.ndarray, arrest_memory: np.ndarray, node: int,
                   half_saturation: float) -> float:
    """The risk a seller perceives at ``node`` before its own tolerance: exposure (police seen
    + peers' arrests) over exposure + ``half_saturation`` (docs/ODD.md 7.9)."""
    e = presence[node] + arrest_memory[node]
    return e / (e + half_saturation)


@kernel
def decay_fields(sales: np.ndarray, unserved: np.ndarray, demand_near: np.ndarray,
                 factor: float) -> None:
    """``sales *= factor; unserved *= factor; demand_near *= factor`` in one pass."""
    for i in range(sales.shape[0]):
        sales[i] *= factor
        unserved[i] *= factor
    for i in range(demand_near.shape[0]):
        demand_near[i] *= factor


def half_life_factor(clock: Clock, hours: float) -> float:
    """Per-step decay factor of a quantity with a half-life of ``hours``."""
    return 0.5 ** (1.0 / clock.steps(hours))


class World:
    """The map's arrays as the model reads them, its neighbourhoods, static attractors and
    fields."""

    def __init__(self, cfg, smap: StreetMap, clock: Clock):
        beh, n = cfg.behaviour, smap.n_nodes
        self.smap = smap
        self.balls = build_balls(cfg, smap)
        self.footfall = self._footfall()
        self.hotspot_weights = self._hotspot_weights(cfg)
        self.set_scenario(cfg)
        self.footfall_pull = float(beh.dealers.footfall_weight) * self.footfall
        self.decay_risk = half_life_factor(clock, beh.dealers.risk_half_life_hours)
        self.decay_arrest = half_life_factor(clock, beh.dealers.arrest_memory_hours)
        self.decay_sales = half_life_factor(clock, beh.dealers.sales_half_life_hours)
        self.steps_per_hour = clock.steps_per_hour
        self.hourly_factor = (1.0 - self.decay_sales) * clock.steps_per_hour
        self.fields = Fields(np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n),
                             np.zeros(n + 1))

    # The balls are large and derived from the map: a checkpoint leaves them (and the map) out
    # and `attach` rebuilds them (brusim.experiments.checkpoint).
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["smap"] = state["balls"] = None
        return state

    def set_scenario(self, cfg) -> None:
        """The scenario's security-by-design cuts (at the start, and at a branch)."""
        self.sbd = self._security_by_design(cfg)
        self.any_sbd = bool(self.sbd.any())
        self.sbd_attractiveness_cut = float(cfg.scenario.sbd_attractiveness_cut) * self.sbd
        self.sbd_nuisance_cut = float(cfg.scenario.sbd_nuisance_cut) * self.sbd

    def attach(self, cfg, smap: StreetMap) -> None:
        """Re-attach the map after a checkpoint was loaded, rebuilding the neighbourhoods."""
        self.smap = smap
        self.balls = build_balls(cfg, smap)

    @property
    def xy32(self) -> tuple[np.ndarray, np.ndarray]:
        """Centred single-precision node coordinates (`spatial.node_xy32`)."""
        return node_xy32(self.smap)

    def hourly(self, decayed_sum: np.ndarray) -> np.ndarray:
        """Convert a decayed event count (sales, unserved searches) to a rate per hour."""
        return decayed_sum * (1.0 - self.decay_sales) * self.steps_per_hour

    def refresh_demand_near(self, sales_weight: float, unserved_weight: float) -> None:
        """Recompute ``demand_near`` (in place) from the sales and unserved fields: the
        market-radius sum of weighted rates per hour (`users.purchases` adds to it as sales
        happen and it decays with them)."""
        f = self.fields
        field = sales_weight * self.hourly(f.sales) + unserved_weight * self.hourly(f.unserved)
        f.demand_near[:-1] = self.balls.market.sum_at(field, np.arange(self.smap.n_nodes))
        f.demand_near[-1] = 0.0

    def decay(self) -> None:
        """End of step: sales, unserved searches and demand decay."""
        f = self.fields
        decay_fields(f.sales, f.unserved, f.demand_near, self.decay_sales)

    def hotspot_activity(self) -> np.ndarray:
        """Recent sales in each hotspot's catchment (the police's intelligence picture)."""
        hs = self.smap.hotspots
        return np.add.reduceat(self.fields.sales[hs.catchment_indices], hs.catchment_indptr[:-1]) \
            if len(hs.catchment_indices) else np.zeros(len(hs))

    # ------------------------------------------------------------------ set-up
    def _footfall(self) -> np.ndarray:
        """Static footfall index per node: station footfall within 300 m plus residents."""
        smap = self.smap
        st = smap.stations
        foot = Ball.build(smap, FOOTFALL_RADIUS_M).spread(
            st.node, np.array([float(a.get("footfall", 1)) for a in st.attrs]), smap.n_nodes
        ) if len(st) else np.zeros(smap.n_nodes)
        pop = smap.node_population / max(float(smap.node_population.mean()), 1e-9)
        return foot / 10.0 + 0.05 * pop

    def _hotspot_weights(self, cfg) -> np.ndarray:
        """Initial market weight of each hotspot (population.market_weights; all 1 if empty)."""
        mw = dict(cfg.population.market_weights or {})
        unknown = sorted(set(mw) - set(self.smap.hotspots.ids))
        if unknown:
            raise ConfigError(
                f"population.market_weights names unknown hotspots {unknown}; valid: "
                f"{', '.join(self.smap.hotspots.ids)}"
            )
        default = 1.0 if not mw else 0.0
        return np.array([float(mw.get(h, default)) for h in self.smap.hotspots.ids])

    def _security_by_design(self, cfg) -> np.ndarray:
        """1 at the catchment nodes of the hotspots given security by design, else 0."""
        sbd = np.zeros(self.smap.n_nodes)
        for h in cfg.scenario.security_by_design:
            try:
                i = self.smap.hotspots.index(h)
            except KeyError as exc:
                raise ConfigError(f"scenario.security_by_design: {exc.args[0]}") from None
            sbd[self.smap.hotspots.catchment(i)] = 1.0
        return sbd


def build_balls(cfg, smap: StreetMap) -> Balls:
    """The neighbourhoods of every node, built once per model (shared with other models on the
    same map, and read from the map's disk cache when there is one)."""
    beh = cfg.behaviour
    market = Ball.build(smap, beh.dealers.market_radius_m)
    return Balls(
        market=market,
        aware=Ball.build(smap, beh.dealers.awareness_m),
        sight=Ball.build(smap, cfg.police.sight_m),
        arrest=Ball.build(smap, cfg.police.arrest_m),
        purchase=(market if beh.users.purchase_radius_m == beh.dealers.market_radius_m
                  else Ball.build(smap, beh.users.purchase_radius_m)),
        contact=Ball.build(smap, beh.outreach.contact_radius_m),
    )
