"""Per-agent reference implementation of brusim's street-market model (Mesa-example style).

`ReferenceMarketModel` implements the rules of the product model
(`brusim.model.BrusselsMarketModel`, which applies each rule to whole populations with numpy) the
straightforward way: every dealer, user, police unit and outreach worker is a
`mesa.discrete_space.CellAgent` on a `mesa.discrete_space.Network` built from the street map's
CSR adjacency (no layout), and each agent's `step()` applies the rules to itself in Python; the
schedule calls ``AgentSet.shuffle_do("step")`` per population. It exists to check the product
(``tests/test_reference.py``: same aggregate outputs in distribution) and to measure what the
vectorisation buys (``benchmarks/run_all.py``). It is never imported by ``src/brusim``.

Reused from brusim: the compiled `StreetMap` (nodes, CSR adjacency, KD-tree, places, network
distances from places), config composition, the clock and hourly demand profile
(`brusim.model.clock`) and the metric names (`brusim.model.recorder.METRICS`), so that
`region_metrics()` has the product's columns. Everything else (initial populations, police
rota and strategies, duties, courts, dealers' choices, users' search, rooms, outreach, violence,
recruitment) is re-implemented here from the model description (docs/model.md).

One step, as in the product: hourly market list and police plan → police units move, are seen
and arrest (courts decide) → dealers' timed statuses end → sellers decide (stay, move, lie low)
→ users (treatment/lingering/off-street stays end, cravings on or off the street, arrivals buy,
consume or search on) → outreach
contacts → violence in contested cells → daily recruitment → decay of the node fields →
`DataCollector`.

Known differences from the product (by design of a per-agent model, or impractical per agent):

- **Sequential updating.** Agents act one at a time in random order and see the changes of the
  agents before them (a seller that moved or lay low, a room place taken). The product updates
  each population simultaneously from one snapshot per phase.
- **Node fields stay arrays.** Police presence, peers' arrests, recent sales and unserved
  searches are per-node numpy arrays (like Mesa property layers): agents write them one at a
  time, the model decays them once per step. Demand near a site is summed over the site's
  neighbourhood when a seller asks (the product keeps a running sum).
- **Market list.** Recomputed from every node each hour (the product updates it incrementally
  from the hour's sale sites; same ranking).
- **Outreach cap.** Each worker makes at most ``max_contacts_per_step`` contacts (the product
  caps the total at that many per worker); a user is tried once per step either way.
- **Recruitment.** Crews recruit one after the other, each from the reserve as it is then. The
  product's supply rule (`brusim.model.supply`: crews sized by their takings and risk) is not
  written here; it is off by default, and the agreement test runs with the defaults.
- **Demand.** Each user's remembered search cost and the off-street channel
  (`brusim.model.demand`) are written per user as in the product; off-street purchases,
  switches and returns are counted, not located.
- **No event table.** Events are counted by type (`event_counts`) and, for the metrics, by node
  (`where`), not logged row by row; only region-wide metrics are recorded per step (no per-area
  table).
- Random numbers come from the Mesa model's ``random`` (stdlib) generator, so runs are
  reproducible per seed but never identical to the product's.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter

import mesa
import networkx as nx
import numpy as np
import pandas as pd
from benchmarks.reference.agents import (
    ACTIVE,
    CUSTODY,
    FOCUS,
    LYING_LOW,
    OFFSTREET,
    PATROL,
    PRISON,
    RESERVE,
    SEARCHING,
    Dealer,
    OutreachWorker,
    PoliceUnit,
    User,
)
from mesa.discrete_space import Cell, Network
from omegaconf import DictConfig, OmegaConf

from brusim.map import StreetMap, load_street_map
from brusim.model.clock import DEMAND_BY_HOUR, Clock
from brusim.model.model import map_settings
from brusim.model.recorder import METRICS

N_MARKETS = 60  # size of the word-of-mouth market list (as the product)
EVENT_OF_METRIC = {
    "transactions": "transaction", "public_use": "public_use", "room_entries": "room_entry",
    "violent_incidents": "violent_incident", "arrests": "arrest",
    "releases_without_prosecution": "release_without_prosecution",
    "prosecutions": "prosecution", "outreach_contacts": "outreach_contact",
    "treatment_entries": "treatment_entry", "unserved_searches": "unserved_search",
}


def street_network(smap: StreetMap) -> nx.Graph:
    """The street graph as networkx, from the map's CSR adjacency (node i = map node i)."""
    graph = nx.Graph()
    graph.add_nodes_from(range(smap.n_nodes))
    rows = np.repeat(np.arange(smap.n_nodes), np.diff(smap.indptr))
    graph.add_edges_from(zip(rows.tolist(), smap.indices.tolist(), strict=True))
    return graph


class ReferenceMarketModel(mesa.Model):
    """Street drug market, police, courts, outreach and rooms, one agent at a time."""

    def __init__(self, cfg, smap: StreetMap | None = None):
        super().__init__(rng=int(cfg.seed))
        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_object(cfg)
        self.cfg = cfg
        self.smap = smap if smap is not None else load_street_map(map_settings(cfg.map))
        self.bd, self.bu = cfg.behaviour.dealers, cfg.behaviour.users
        self.bdem = cfg.behaviour.demand
        self.bo, self.bv = cfg.behaviour.outreach, cfg.behaviour.violence
        self.clock = Clock(float(cfg.step_minutes))
        self.t = 0
        self.n_steps = int(round(float(cfg.weeks) * self.clock.steps_per_week))
        self._durations()
        self.grid = Network(street_network(self.smap), layout=None, random=self.random)
        self.cells: list[Cell] = [self.grid[i] for i in range(self.smap.n_nodes)]
        self._balls: dict[float, dict[int, np.ndarray]] = {}
        self._ball_cells: dict[float, dict[int, list[Cell]]] = {}
        self._places()

        n = self.smap.n_nodes
        self.presence = np.zeros(n)
        self.arrest_memory = np.zeros(n)
        self.sales = np.zeros(n)
        self.unserved = np.zeros(n)
        self.court_used = 0
        self.counts = dict.fromkeys(METRICS, 0.0)
        self.event_counts: Counter[str] = Counter()
        self.where: dict[str, Counter[int]] = {m: Counter() for m in EVENT_OF_METRIC}
        self._set_clock(0)
        self.new_hour = True

        self._create_dealers()
        self._create_users()
        self._create_police()
        self._create_outreach()
        self._seed_markets()
        self.datacollector = mesa.DataCollector(
            model_reporters={m: (lambda model, m=m: model.counts[m]) for m in METRICS})

    # ------------------------------------------------------------------ set-up
    def _durations(self) -> None:
        cfg, steps = self.cfg, self.clock.steps
        self.step_hours = self.clock.step_minutes / 60.0
        self.steps_per_hour = int(self.clock.steps_per_hour)
        self.steps_decision = steps(self.bd.decision_minutes / 60)
        self.steps_purchase_interval = steps(self.bu.purchase_interval_hours)
        self.steps_linger = steps(self.bu.linger_hours)
        self.steps_min_gap = steps(self.bu.min_gap_hours)
        self.steps_retry = steps(self.bu.retry_hours)
        self.steps_lie_low = steps(self.bd.lie_low_hours)
        self.steps_displaced_memory = steps(self.bv.displaced_memory_days * 24)
        self.steps_referral = steps(self.bo.referral_days * 24)
        self.steps_custody = steps(cfg.courts.custody_hours)
        self.steps_sentence = steps(cfg.courts.sentence_weeks * 7 * 24)
        self.decay_risk = 0.5 ** (1.0 / steps(self.bd.risk_half_life_hours))
        self.decay_arrest = 0.5 ** (1.0 / steps(self.bd.arrest_memory_hours))
        self.decay_sales = 0.5 ** (1.0 / steps(self.bd.sales_half_life_hours))
        # a decayed count of events -> events per hour
        self.hourly_factor = (1.0 - self.decay_sales) * self.clock.steps_per_hour
        spw = self.clock.steps_per_week
        self.intervention_step = int(cfg.scenario.intervention_week * spw)
        wd = cfg.scenario.withdraw_week
        self.withdraw_step = int(wd * spw) if wd is not None else None

    def _places(self) -> None:
        """Hotspot weights and catchments, footfall, security by design, rooms, patrol weights."""
        smap, cfg = self.smap, self.cfg
        hs = smap.hotspots
        mw = dict(cfg.population.market_weights or {})
        self.hotspot_weights = [float(mw.get(h, 0.0 if mw else 1.0)) for h in hs.ids]
        self.catchment = [hs.catchment(i).tolist() for i in range(len(hs))]
        pop = smap.node_population.astype(float)
        rel_pop = pop / max(float(pop.mean()), 1e-9)
        foot = np.zeros(smap.n_nodes)
        for node, attrs in zip(smap.stations.node, smap.stations.attrs, strict=True):
            foot[self.within(int(node), 300.0)] += float(attrs.get("footfall", 1))
        self.footfall = foot / 10.0 + 0.05 * rel_pop
        self.footfall_pull = (self.bd.footfall_weight * self.footfall).tolist()
        self.sbd = [0.0] * smap.n_nodes
        for h in cfg.scenario.security_by_design:
            for node in self.catchment[hs.index(h)]:
                self.sbd[node] = 1.0
        self.any_sbd = any(self.sbd)
        conf = dict(cfg.scenario.rooms or {})
        self.rooms = []  # (room index, node, open hour, close hour, capacity, from step)
        for r, rid in enumerate(smap.rooms.ids):
            c = conf.get(rid)
            if c and c.open:
                start = int(c.from_week * self.clock.steps_per_week)
                self.rooms.append((r, int(smap.rooms.node[r]), c.open_hour, c.close_hour,
                                   c.capacity_per_hour, start))
        self.room_used = [0] * len(smap.rooms.ids)
        # patrol groups: each zone's nodes, then the whole region, weighted by residents+footfall
        w = rel_pop + cfg.police.patrol_footfall_weight * self.footfall
        self.patrol_groups = []
        for nodes in [*(np.flatnonzero(smap.zone == z) for z in range(len(smap.zone_ids))),
                      np.arange(smap.n_nodes)]:
            self.patrol_groups.append((nodes.tolist(), np.cumsum(w[nodes]).tolist()))
        self.region_group = len(smap.zone_ids)
        radius = cfg.police.focus_radius_m
        self.focus_nodes = [np.flatnonzero(row <= radius).tolist() for row in hs.dist]
        self.listed = [i for i, a in enumerate(hs.attrs) if a.get("listed", True)]
        self.focus = [hs.index(h) for h in cfg.police.focus_hotspots]
        self.cell_of = list(zip(
            np.floor((smap.x - smap.x.min()) / self.bv.cell_m).astype(int).tolist(),
            np.floor((smap.y - smap.y.min()) / self.bv.cell_m).astype(int).tolist(),
            strict=True))

    def _weighted_node(self, weights: np.ndarray) -> int:
        """A node drawn with probability proportional to ``weights``."""
        return self.random.choices(range(len(weights)), weights=weights.tolist())[0]

    def _create_dealers(self) -> None:
        """Crews at hotspots (largest remainder by market weight) and dispersed sites; members
        placed near their crew's home."""
        pop, rnd, smap = self.cfg.population, self.random, self.smap
        n_crews = max(1, pop.n_crews)
        n_dispersed = int(round(pop.dispersed_crew_share * n_crews))
        n_hot = n_crews - n_dispersed
        weights = self.hotspot_weights
        crew_hotspot = [-1] * n_crews
        self.crew_home = [0] * n_crews
        if n_hot > 0 and weights:
            total = sum(weights)
            share = [w / total for w in weights]
            alloc = [math.floor(s * n_hot) for s in share]
            order = sorted(range(len(share)), key=lambda h: -share[h])
            for h in order[: n_hot - sum(alloc)]:
                alloc[h] += 1
            hot = [h for h in range(len(share)) for _ in range(alloc[h])][:n_hot]
            for c, h in enumerate(hot):
                crew_hotspot[c] = h
                self.crew_home[c] = rnd.choice(self.catchment[h])
        for c in range(n_hot, n_crews):
            self.crew_home[c] = self._weighted_node(smap.node_population.astype(float))
        n_at = Counter(h for h in crew_hotspot if h >= 0)
        crew_w = [max(weights[h] / max(n_at[h], 1) if h >= 0 else 0.5, 1e-6) if weights else 1.0
                  for h in crew_hotspot]
        active = rnd.choices(range(n_crews), weights=crew_w, k=pop.n_dealers)
        self.crew_target = [active.count(c) for c in range(n_crews)]
        reserve = rnd.choices(range(n_crews), weights=crew_w, k=pop.n_reserve_dealers)
        self.crew_members: list[list[Dealer]] = [[] for _ in range(n_crews)]
        for i, crew in enumerate(active + reserve):
            site = self.random_node_within(self.crew_home[crew], self.bd.market_radius_m)
            dealer = Dealer(self, self.cells[site], crew, ACTIVE if i < pop.n_dealers else RESERVE,
                            shift_start=rnd.uniform(10.0, 20.0),
                            tolerance=rnd.lognormvariate(0.0, 0.3),
                            decision_offset=rnd.randrange(self.steps_decision))
            self.crew_members[crew].append(dealer)

    def _create_users(self) -> None:
        """Homes: a share near the hotspots (by market weight), the rest by residents."""
        pop, rnd, smap = self.cfg.population, self.random, self.smap
        residents = np.cumsum(smap.node_population.astype(float)).tolist()
        pools: dict[int, list[int]] = {}
        for _ in range(pop.n_users):
            if self.hotspot_weights and rnd.random() < pop.user_hotspot_share:
                h = rnd.choices(range(len(self.hotspot_weights)), weights=self.hotspot_weights)[0]
                if h not in pools:
                    pools[h] = np.flatnonzero(
                        smap.hotspots.dist[h] <= pop.user_hotspot_radius_m).tolist()
                home = rnd.choice(pools[h])
            else:
                home = rnd.choices(range(smap.n_nodes), cum_weights=residents)[0]
            User(self, self.cells[home], ready=rnd.randrange(48))

    def _create_police(self) -> None:
        """Units per zone (officers × street share / officers per unit) at the zone's base
        (the node nearest its resident-weighted centre), then regional reinforcements."""
        smap, cfgp = self.smap, self.cfg.police
        bases = []
        for z in range(len(smap.zone_ids)):
            nodes = np.flatnonzero(smap.zone == z)
            if len(nodes) == 0:
                bases.append(0)
                continue
            w = smap.node_population[nodes].astype(float)
            cx, cy = np.average(smap.x[nodes], weights=w), np.average(smap.y[nodes], weights=w)
            bases.append(int(nodes[np.argmin(np.hypot(smap.x[nodes] - cx, smap.y[nodes] - cy))]))
        self.units_by_zone: list[list[PoliceUnit]] = []
        for z, (zid, default) in enumerate(zip(smap.zone_ids, smap.zone_officers, strict=True)):
            officers = cfgp.officers.get(zid, default)
            n = int(round(officers * cfgp.street_share / max(cfgp.officers_per_unit, 1)))
            self.units_by_zone.append([PoliceUnit(self, z, self.cells[bases[z]])
                                       for _ in range(n)])
        self.reinforcements = [PoliceUnit(self, -1, self.cells[bases[0]])
                               for _ in range(cfgp.reinforcement_units)]

    def _create_outreach(self) -> None:
        """Workers assigned round-robin to the outreach hotspots, at the hotspot node."""
        hs = self.smap.hotspots
        idx = [hs.index(h) for h in self.bo.hotspots] or list(range(min(len(hs), 1)))
        for i in range(self.cfg.population.n_outreach):
            h = idx[i % len(idx)]
            OutreachWorker(self, h, self.cells[int(hs.node[h])])

    def _seed_markets(self) -> None:
        """Start near steady state: the starting sites are known markets (their expected sales
        accumulated); each user knows one market by word of mouth."""
        sellers = [d for d in self.agents_by_type[Dealer] if d.status == ACTIVE]
        per_seller = (self.cfg.population.n_users / self.steps_purchase_interval
                      / max(len(sellers), 1))
        for d in sellers:
            self.sales[d.node] += per_seller / (1.0 - self.decay_sales)
        self._refresh_markets()
        for user in self.agents_by_type[User]:
            user.known = self.pick_market(user.home.coordinate, self.bu.search_radius_m * 2)

    # ------------------------------------------------------------------ helpers for agents
    def within(self, node: int, radius: float) -> np.ndarray:
        """Nodes within ``radius`` metres (straight line) of ``node``, cached."""
        cache = self._balls.setdefault(radius, {})
        near = cache.get(node)
        if near is None:
            found = self.smap.kdtree.query_ball_point((self.smap.x[node], self.smap.y[node]),
                                                      radius)
            near = cache[node] = np.array(sorted(found), dtype=np.intp)
        return near

    def cells_within(self, node: int, radius: float) -> list[Cell]:
        """Cells within ``radius`` metres (straight line) of ``node``, cached."""
        cache = self._ball_cells.setdefault(radius, {})
        cells = cache.get(node)
        if cells is None:
            cells = cache[node] = [self.cells[i] for i in self.within(node, radius).tolist()]
        return cells

    def random_node_within(self, node: int, radius: float) -> int:
        """A uniformly random node within ``radius`` metres of ``node``."""
        near = self.within(node, radius)
        return int(near[self.random.randrange(len(near))])

    def network_distance(self, a: int, b: int) -> float:
        """Network-equivalent distance (m): straight line × the map's circuity."""
        smap = self.smap
        return math.hypot(smap.x[a] - smap.x[b], smap.y[a] - smap.y[b]) * smap.circuity

    def travel_steps(self, a: int, b: int) -> int:
        """Steps to walk (or, beyond ``transit_above_m``, ride transit) from ``a`` to ``b``."""
        beh = self.bu
        d = self.network_distance(a, b)
        kmh = beh.transit_speed_kmh if d > beh.transit_above_m else beh.walk_speed_kmh
        return int(d / (kmh * 1000.0 / 60.0 * self.clock.step_minutes)) + 1

    def perceived_risk(self, node: int) -> float:
        """Perceived risk in [0, 1) from the police seen and peers' arrests around ``node``."""
        e = self.presence[node] + self.arrest_memory[node]
        return float(e / (e + self.bd.risk_half_saturation))

    def demand_near(self, node: int) -> float:
        """Buyers per hour seen within the market radius: recent sales and unserved searches."""
        near = self.within(node, self.bd.market_radius_m)
        return float(self.bd.sales_weight * self.sales[near].sum()
                     + self.bd.unserved_weight * self.unserved[near].sum()) * self.hourly_factor

    def sbd_attractiveness_cut(self, node: int) -> float:
        """Security-by-design cut of a site's attractiveness (from the intervention week)."""
        if not self.any_sbd or self.t < self.intervention_step:
            return 0.0
        return self.cfg.scenario.sbd_attractiveness_cut * self.sbd[node]

    def sbd_nuisance_cut(self, node: int) -> float:
        """Security-by-design cut of public use (from the intervention week)."""
        if not self.any_sbd or self.t < self.intervention_step:
            return 0.0
        return self.cfg.scenario.sbd_nuisance_cut * self.sbd[node]

    def gumbel(self) -> float:
        """A standard Gumbel draw (individual taste in the logit site choice)."""
        return -math.log(max(self.random.expovariate(1.0), 1e-300))

    def known_market_near(self, node: int, radius: float) -> int:
        """A random known market within ``radius`` metres of ``node`` (``node`` if none)."""
        x, y = self.smap.x[node], self.smap.y[node]
        near = [m for m, mx, my, _ in self.markets if math.hypot(mx - x, my - y) <= radius]
        return self.random.choice(near) if near else node

    def pick_market(self, origin: int, radius: float, exclude_origin: bool = False) -> int:
        """A known market by word of mouth: weight = recent sales × exp(-2 d / radius) within
        ``radius``; -1 if none (``exclude_origin``: not a market at the origin itself)."""
        x, y = self.smap.x[origin], self.smap.y[origin]
        nodes, weights = [], []
        for m, mx, my, strength in self.markets:
            d = math.hypot(mx - x, my - y)
            if d <= radius and not (exclude_origin and d < 1.0):
                nodes.append(m)
                weights.append(strength * math.exp(-2.0 * d / radius))
        if not nodes or sum(weights) <= 0:
            return -1
        return self.random.choices(nodes, weights=weights)[0]

    def police_within(self, node: int, radius: float) -> bool:
        """Whether an on-duty police unit stands within ``radius`` metres of ``node``."""
        return any(isinstance(a, PoliceUnit) and a.on_duty
                   for cell in self.cells_within(node, radius) for a in cell.agents)

    def police_in_sight(self, node: int) -> bool:
        """Whether an on-duty unit is within sight of ``node``."""
        return self.police_within(node, self.cfg.police.sight_m)

    def patrol_node(self, group: int) -> int:
        """A patrol destination in ``group`` (a zone, or the region), by residents+footfall."""
        nodes, cum = self.patrol_groups[group]
        return self.random.choices(nodes, cum_weights=cum)[0]

    def enter_room(self, site: int) -> bool:
        """A willing buyer at ``site`` enters the nearest open room if in reach and not full."""
        rooms = self.smap.rooms
        r = min(self.rooms_open, key=lambda room: rooms.dist[room[0], site])
        if rooms.dist[r[0], site] > self.bu.room_reach_m or self.room_used[r[0]] >= r[4]:
            return False
        self.room_used[r[0]] += 1
        self.record("room_entries", r[1])
        return True

    def record(self, metric: str, node: int) -> None:
        """Count an event of ``metric`` at ``node`` (this step's region-wide metric)."""
        self.counts[metric] += 1.0
        self.event_counts[EVENT_OF_METRIC[metric]] += 1
        self.where[metric][node] += 1

    def event(self, name: str) -> None:
        """Count an event that is not a metric (dealer moves, lie-lows, recruitment)."""
        self.event_counts[name] += 1

    def arrest(self, dealer: Dealer) -> None:
        """Arrest a seller: peers notice; the court prosecutes (prison) while it has capacity
        this week, else the seller is released after custody."""
        node = dealer.node
        self.record("arrests", node)
        self.arrest_memory[self.within(node, self.cfg.police.sight_m)] += self.bd.arrest_risk
        if self.court_used < self.cfg.courts.weekly_capacity:
            self.court_used += 1
            dealer.status, dealer.until = PRISON, self.t + self.steps_sentence
            self.record("prosecutions", node)
        else:
            dealer.status, dealer.until = CUSTODY, self.t + self.steps_custody

    # ------------------------------------------------------------------ the step
    @property
    def intervention_active(self) -> bool:
        """The scenario's intervention is in force."""
        return self.t >= self.intervention_step and (
            self.withdraw_step is None or self.t < self.withdraw_step)

    def _set_clock(self, t: int) -> None:
        step_of_day = t % self.clock.steps_per_day
        self.step_of_day = step_of_day
        self.hour = step_of_day * self.clock.step_minutes / 60.0
        self.new_hour = t % self.steps_per_hour == 0
        self.craving_rate = (float(DEMAND_BY_HOUR[int(self.hour) % 24])
                             / self.steps_purchase_interval)

    def step(self) -> None:
        """Advance the market by one time step."""
        t = self.t
        self._set_clock(t)
        self.counts = dict.fromkeys(METRICS, 0.0)
        if self.new_hour:
            self.room_used = [0] * len(self.room_used)
            self._refresh_markets()
        if t % self.clock.steps_per_week == 0:
            self.court_used = 0
        self.presence *= self.decay_risk
        self.arrest_memory *= self.decay_arrest
        if self.new_hour:
            self._plan_hour()
        elif self.intervention_active and self.cfg.police.strategy == "koper":
            self._place_focus([u for u in self.police_units() if u.role == FOCUS])
        self.agents_by_type[PoliceUnit].shuffle_do("step")
        dealers = self.agents_by_type[Dealer]
        dealers.do("update_status")
        dealers.shuffle_do("step")
        sellers = [d for d in dealers if d.selling]
        self.counts["dealers_active"] = float(len(sellers))
        self.counts["dealer_hours"] = len(sellers) * self.step_hours
        self.rooms_open = [r for r in self.rooms
                           if r[2] <= self.hour < r[3] and t >= r[5]]
        self.agents_by_type[User].shuffle_do("step")
        self.counts["users_searching"] = float(
            sum(u.status == SEARCHING for u in self.agents_by_type[User]))
        self.counts["users_offstreet"] = float(
            sum(u.status == OFFSTREET for u in self.agents_by_type[User]))
        self.outreach_on_shift = ((not self.bo.weekdays_only or self.clock.weekday(t) < 5)
                                  and self.clock.in_hours(t, self.bo.shift_start_hour,
                                                          self.bo.shift_hours))
        if OutreachWorker in self.agents_by_type:
            self.agents_by_type[OutreachWorker].shuffle_do("step")
        self._violence(sellers)
        if self.step_of_day == 0 and t > 0:
            self._recruit()
        self.sales *= self.decay_sales
        self.unserved *= self.decay_sales
        self.datacollector.collect(self)
        self.t += 1

    def run(self, n_steps: int | None = None) -> None:
        """Run ``n_steps`` steps (default: the rest of the configured horizon)."""
        for _ in range(self.n_steps - self.t if n_steps is None else n_steps):
            self.step()

    def _refresh_markets(self) -> None:
        """Word-of-mouth market list: the nodes with most recent sales, and their sales."""
        k = min(N_MARKETS, self.smap.n_nodes)
        top = np.argpartition(-self.sales, k - 1)[:k]
        top = top[self.sales[top] > 0]
        smap = self.smap
        self.markets = [(int(m), float(smap.x[m]), float(smap.y[m]), float(self.sales[m]))
                        for m in top]

    # ------------------------------------------------------------------ police command
    def police_units(self) -> list[PoliceUnit]:
        """All units: each zone's in rota order, then the reinforcements."""
        return [u for units in self.units_by_zone for u in units] + self.reinforcements

    def _duty_loss(self) -> list[float]:
        """Share of each zone's capacity lost to competing duties now (max over duties)."""
        zone_ids, clock, t = self.smap.zone_ids, self.clock, self.t
        loss = [0.0] * len(zone_ids)
        day = clock.day(t)
        for duty in self.cfg.police.duties:
            if duty.weekday >= 0 and clock.weekday(t) != duty.weekday:
                continue
            if (day // 7) % max(duty.every_weeks, 1) != 0:
                continue
            if not clock.in_hours(t, duty.start_hour, duty.hours):
                continue
            if duty.probability < 1.0:  # one draw per duty and day (as the product)
                draw = zlib.crc32(f"{duty.name}:{day}:{self.cfg.seed}".encode()) / 2**32
                if draw >= duty.probability:
                    continue
            zones = (range(len(zone_ids)) if duty.zone == "all"
                     else [zone_ids.index(duty.zone)])
            for z in zones:
                loss[z] = max(loss[z], duty.share_lost)
        return loss

    def _plan_hour(self) -> None:
        """Hourly: the rota (shift staffing minus duties; reinforcements during the
        intervention), the strategy's focus units, everyone's stop and deterrence."""
        cfgp = self.cfg.police
        factor = cfgp.shift_factors[self.clock.shift(self.t)]
        for units, loss in zip(self.units_by_zone, self._duty_loss(), strict=True):
            k = int(round(factor * (1.0 - loss) * len(units)))
            for i, unit in enumerate(units):
                unit.on_duty = i < k
        for unit in self.reinforcements:
            unit.on_duty = self.intervention_active
        merged = cfgp.merged_command and self.intervention_active
        focus = self._choose_focus() if self.intervention_active else []
        focus_ids = {id(u) for u in focus}
        patrol_effect = 1.0 - math.exp(-cfgp.patrol_stop_minutes / cfgp.deterrence_tau_minutes)
        stop = {"koper": cfgp.koper_stop_minutes}.get(cfgp.strategy, cfgp.focus_stop_minutes)
        focus_effect = 1.0 - math.exp(-stop / cfgp.deterrence_tau_minutes)
        for unit in self.police_units():
            if not unit.on_duty:
                unit.role, unit.effect = PATROL, 0.0
                unit.move_to(unit.base)
            elif id(unit) in focus_ids:
                unit.role, unit.effect = FOCUS, focus_effect
            else:
                unit.role, unit.effect = PATROL, patrol_effect
                unit.group = self.region_group if merged or unit.zone < 0 else unit.zone
        self._place_focus(focus)

    def _pick_focus_units(self) -> list[PoliceUnit]:
        """On-duty reinforcements plus ``focus_share`` of each contributing zone's on-duty
        units (at random)."""
        cfgp = self.cfg.police
        zones = ([self.smap.zone_ids.index(z) for z in cfgp.focus_zones] if cfgp.focus_zones
                 else range(len(self.smap.zone_ids)))
        chosen = [u for u in self.reinforcements if u.on_duty]
        for z in zones:
            on = [u for u in self.units_by_zone[z] if u.on_duty]
            chosen += self.random.sample(on, int(round(cfgp.focus_share * len(on))))
        return chosen

    def _choose_focus(self) -> list[PoliceUnit]:
        """The strategy's focus units, each with its target hotspot (``unit.target``)."""
        strategy = self.cfg.police.strategy
        if strategy == "concentrate":
            units = self._pick_focus_units() if self.focus else []
            for i, unit in enumerate(units):
                unit.target = self.focus[i % len(self.focus)]
            return units
        if strategy in ("hotspots", "koper"):
            units = self._pick_focus_units()
            self._target_by_activity(units)
            return [u for u in units if u.target >= 0]
        return []

    def _target_by_activity(self, units: list[PoliceUnit]) -> None:
        """Spread units over the pool of hotspots in proportion to observed activity (recent
        sales in each catchment): zone units over their zone's hotspots, regional units (or
        all units under a merged command) over all of them."""
        pool = self.focus or self.listed
        hs_zone = [int(self.smap.zone[self.smap.hotspots.node[h]]) for h in pool]
        activity = [float(self.sales[self.catchment[h]].sum()) + 1e-3 for h in pool]
        merged = self.cfg.police.merged_command
        for unit in units:
            ok = [merged or unit.zone < 0 or z == unit.zone for z in hs_zone]
            weights = [a if o else 0.0 for a, o in zip(activity, ok, strict=True)]
            unit.target = (self.random.choices(pool, weights=weights)[0] if any(ok) else -1)

    def _place_focus(self, units: list[PoliceUnit]) -> None:
        """Focus units post on a random node within the perimeter of their hotspot (koper: the
        hour's focus units draw a new hotspot every step)."""
        if self.cfg.police.strategy == "koper" and not self.new_hour:
            self._target_by_activity(units)
        for unit in units:
            if unit.target >= 0:
                unit.move_to(self.cells[self.random.choice(self.focus_nodes[unit.target])])

    # ------------------------------------------------------------------ violence, recruitment
    def _violence(self, sellers: list[Dealer]) -> None:
        """Each cell where sellers of several crews sell may see a violent incident; displaced
        sellers make it likelier."""
        cells: dict[tuple[int, int], list[Dealer]] = {}
        for d in sellers:
            cells.setdefault(self.cell_of[d.node], []).append(d)
        for members in cells.values():
            crews = len({d.crew for d in members})
            if crews < 2:
                continue
            displaced = sum(d.displaced_until > self.t for d in members)
            p = self.bv.base_prob * (crews - 1) * (1.0 + self.bv.displaced_factor * displaced)
            if self.random.random() < p:
                self.record("violent_incidents", members[0].node)

    def _recruit(self) -> None:
        """Daily: crews below target recruit from the reserve while demand persists nearby."""
        beh = self.bd
        dealers = list(self.agents_by_type[Dealer])
        for crew, home in enumerate(self.crew_home):
            members = sum(d.crew == crew and d.status in (ACTIVE, LYING_LOW, CUSTODY)
                          for d in dealers)
            deficit = max(self.crew_target[crew] - members, 0)
            want = sum(self.random.random() < beh.recruit_rate_per_day for _ in range(deficit))
            near = self.within(home, beh.awareness_m)
            demand = float((self.sales[near] + self.unserved[near]).sum()) \
                * self.hourly_factor * 24
            if want == 0 or demand < beh.recruit_min_sales_per_day:
                continue
            reserve = [d for d in dealers if d.status == RESERVE]
            pool = ([d for d in reserve if d.crew == crew]
                    + [d for d in reserve if d.crew != crew])[:want]
            for d in pool:
                self.crew_members[d.crew].remove(d)
                self.crew_members[crew].append(d)
                d.crew, d.status, d.lie_lows = crew, ACTIVE, 0
                d.move_to(self.cells[self.random_node_within(home, beh.market_radius_m)])
                self.event("recruitment")

    # ------------------------------------------------------------------ outputs
    def region_metrics(self) -> pd.DataFrame:
        """Region-wide metrics per step (the product's `region_metrics` columns)."""
        df = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        df = df[list(METRICS)].astype(np.float64)
        df.insert(0, "step", np.arange(len(df), dtype=np.int32))
        return df
