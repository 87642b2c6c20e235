"""Agents of the per-agent reference model: every rule of brusim written as one agent's `step`.

Written the way Mesa's examples are: each agent is a `mesa.discrete_space.CellAgent` standing in
a `Cell` of the street `Network`, reads its neighbourhood by walking the cells around it and
their agents, and changes its own state (and the model's node fields) one agent at a time. See
`benchmarks/reference/model.py` for the schedule and the documented differences from the
vectorised product model (`brusim.model.BrusselsMarketModel`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from mesa.discrete_space import CellAgent

if TYPE_CHECKING:
    from benchmarks.reference.model import ReferenceMarketModel
    from mesa.discrete_space import Cell

# dealer statuses
ACTIVE, LYING_LOW, CUSTODY, PRISON, RESERVE = range(5)
# user statuses
IDLE, SEARCHING, LINGERING, TREATMENT, RECOVERED, OFFSTREET = range(6)
# police roles
PATROL, FOCUS = 0, 1


class Dealer(CellAgent):
    """A street seller of a crew; its cell is its selling site."""

    model: ReferenceMarketModel

    def __init__(self, model: ReferenceMarketModel, cell: Cell, crew: int, status: int,
                 shift_start: float, tolerance: float, decision_offset: int):
        super().__init__(model)
        self.cell = cell
        self.crew = crew
        self.status = status
        self.shift_start = shift_start
        self.tolerance = tolerance
        self.decision_offset = decision_offset
        self.until = 0
        self.lie_lows = 0
        self.displaced_until = -1

    @property
    def node(self) -> int:
        """Street node of the selling site."""
        return self.cell.coordinate

    @property
    def selling(self) -> bool:
        """Active and within the daily selling hours."""
        m = self.model
        return self.status == ACTIVE and (m.hour - self.shift_start) % 24.0 < m.bd.shift_hours

    def update_status(self) -> None:
        """Lying low and custody end (back to selling); prison ends (back to the reserve)."""
        if self.status in (LYING_LOW, CUSTODY, PRISON) and self.until <= self.model.t:
            if self.status == CUSTODY:
                self.model.record("releases_without_prosecution", self.node)
            self.status = RESERVE if self.status == PRISON else ACTIVE

    def step(self) -> None:
        """A seller reconsiders its site when its decision time comes or it feels at risk."""
        if not self.selling:
            return
        m = self.model
        risk = m.perceived_risk(self.node) * self.tolerance
        due = (m.t + self.decision_offset) % m.steps_decision == 0
        if due or risk > m.bd.flee_risk:
            self.decide(risk)

    def candidate_sites(self) -> list[int]:
        """Current site, crew home, a crew-mate's site, a known market in reach, and random sites
        of the awareness space around the current site and the crew home (alternately)."""
        m, beh = self.model, self.model.bd
        cur, home = self.node, m.crew_home[self.crew]
        mate = m.random.choice(m.crew_members[self.crew])
        cands = [cur, home, mate.node if mate.status == ACTIVE else home,
                 m.known_market_near(cur, beh.awareness_m)]
        for j in range(max(beh.n_candidates - 4, 2)):
            cands.append(m.random_node_within(cur if j % 2 == 0 else home, beh.awareness_m))
        return cands

    def site_utility(self, site: int, cur: int, home: int) -> float:
        """Expected takings at ``site`` discounted by perceived risk, minus moving and turf
        costs (the same formula as `brusim.model.kernels.decide_sites`)."""
        m, beh = self.model, self.model.bd
        competitors = own = 0
        for cell in m.cells_within(site, beh.market_radius_m):
            for agent in cell.agents:
                if agent is not self and isinstance(agent, Dealer) and agent.selling:
                    competitors += 1
                    own += agent.crew == self.crew
        takings = (m.demand_near(site) + m.footfall_pull[site]) / (competitors + 1.0)
        takings *= 1.0 - m.sbd_attractiveness_cut(site)
        risk = m.perceived_risk(site) * self.tolerance
        contested = competitors > own and own == 0
        takings *= 1.0 + min(own, 3) * beh.crew_bonus
        utility = takings * (math.exp(-beh.risk_weight * risk) - beh.turf_penalty * contested)
        utility -= m.network_distance(site, cur) * beh.move_cost_per_km / 1000.0
        utility -= m.network_distance(site, home) * beh.turf_cost_per_km / 1000.0
        return utility

    def decide(self, risk_here: float) -> None:
        """Weigh the candidate sites: stay, move, or lie low (and quit after too many)."""
        m, beh = self.model, self.model.bd
        cur, home = self.node, m.crew_home[self.crew]
        cands = self.candidate_sites()
        utils = [self.site_utility(c, cur, home) + beh.choice_noise * m.gumbel() for c in cands]
        best = max(range(len(cands)), key=utils.__getitem__)
        u_best, u_cur = utils[best], utils[0]
        lie_low = u_best < beh.min_utility
        moved = (not lie_low and cands[best] != cur
                 and u_best > u_cur + beh.switch_margin * abs(u_cur) + 1e-9)
        if moved:
            m.event("dealer_move")
            if risk_here > 0.2:
                self.displaced_until = m.t + m.steps_displaced_memory
            self.move_to(m.cells[cands[best]])
        if not lie_low:
            self.lie_lows = 0
            return
        m.event("dealer_lie_low")
        self.lie_lows += 1
        self.status, self.until = LYING_LOW, m.t + m.steps_lie_low
        if self.lie_lows >= beh.quit_after_lie_lows:
            self.status, self.lie_lows = RESERVE, 0


class User(CellAgent):
    """A buyer with a craving cycle; its cell is where it is (home when idle)."""

    model: ReferenceMarketModel

    def __init__(self, model: ReferenceMarketModel, home: Cell, ready: int):
        super().__init__(model)
        self.cell = home
        self.home = home
        self.status = IDLE
        self.target = home.coordinate
        self.arrive = 0
        self.attempts = 0
        self.known = -1  # last purchase site (node), -1 if none
        self.ready = ready
        self.until = 0
        self.referred_until = -1
        self.tried = -1  # last step an outreach worker tried to contact this user
        self.cost_hours = 0.0  # remembered hours a street purchase takes (brusim.model.demand)
        self.factor = 1.0  # the craving hazard's multiplier
        self.search_start = 0

    @property
    def node(self) -> int:
        """Street node the user is at."""
        return self.cell.coordinate

    def step(self) -> None:
        """Treatment and lingering end; idle users may start a search; arrivals try to buy."""
        m = self.model
        t = m.t
        if self.status == TREATMENT and self.until <= t:
            if m.random.random() < m.bo.relapse_prob:
                self.status, self.ready = IDLE, t
            else:
                self.status = RECOVERED
        elif self.status == LINGERING and (self.until <= t or m.police_in_sight(self.node)):
            self.status = IDLE
            self.move_to(self.home)
        elif self.status == OFFSTREET and self.until <= t:  # back to the street
            self.status = IDLE
            m.counts["offstreet_returns"] += 1.0
        if self.status in (IDLE, OFFSTREET):
            factor = 1.0 if self.status == OFFSTREET else self.factor
            if self.ready <= t and m.random.random() < m.craving_rate * factor:
                self.crave()
        elif self.status == SEARCHING and self.arrive <= t:
            self.move_to(m.cells[self.target])
            self.try_to_buy()

    def crave(self) -> None:
        """A craving: bought off the street when there (or on turning to it, more likely the
        longer street searches have taken), else a street search."""
        m, d = self.model, self.model.bdem
        off = self.status == OFFSTREET
        if not off and d.offstreet_prob > 0 and self.cost_hours > 0:
            share = self.cost_hours / (self.cost_hours + d.price_hours)
            if m.random.random() < d.offstreet_prob * share:
                off = True
                self.status = OFFSTREET
                stay = d.offstreet_weeks * m.clock.steps_per_week * m.random.expovariate(1.0)
                self.until = m.t + 1 + int(min(stay, 2.0**50))
                m.counts["offstreet_switches"] += 1.0
        if off:
            self.ready = m.t + m.steps_min_gap
            m.counts["offstreet_purchases"] += 1.0
        else:
            self.search_start = m.t
            self.set_out()

    def remember(self, hours: float) -> None:
        """A street search that ended updates what a purchase is remembered to cost."""
        d = self.model.bdem
        self.cost_hours += (1.0 - math.exp(-1.0 / d.memory_searches)) * (hours - self.cost_hours)
        self.factor = (1.0 + self.cost_hours / d.price_hours) ** d.elasticity

    def set_out(self) -> None:
        """A new craving: go where it last bought (loyalty) or to a market by word of mouth."""
        m, beh = self.model, self.model.bu
        target = self.known
        if target < 0 or m.random.random() >= beh.loyalty:
            pick = m.pick_market(self.home.coordinate, beh.search_radius_m)
            target = pick if pick >= 0 else self.home.coordinate
        self.status, self.attempts, self.target = SEARCHING, 0, target
        self.arrive = m.t + m.travel_steps(self.node, target)

    def try_to_buy(self) -> None:
        """Buy from a seller at the busiest site within reach, unless police stand there."""
        m = self.model
        best: list[list[Dealer]] = []
        best_cells: list[Cell] = []
        most = 0
        for cell in m.cells_within(self.node, m.bu.purchase_radius_m):
            sellers = [a for a in cell.agents if isinstance(a, Dealer) and a.selling]
            if len(sellers) > most:
                most, best, best_cells = len(sellers), [sellers], [cell]
            elif len(sellers) == most and most > 0:
                best.append(sellers)
                best_cells.append(cell)
        if most == 0:
            self.failed_search()
            return
        i = m.random.randrange(len(best))
        site = best_cells[i]
        if m.bu.avoid_police and m.police_within(site.coordinate, m.cfg.police.arrest_m):
            self.failed_search()
            return
        m.random.choice(best[i])  # the seller (who sold is not part of any rule)
        m.record("transactions", site.coordinate)
        m.sales[site.coordinate] += 1.0
        self.known = site.coordinate
        self.move_to(site)
        self.remember((m.t - self.search_start) * m.step_hours)
        self.consume()

    def consume(self) -> None:
        """Use in a consumption room (willing, open, in reach, not full), in public, or home."""
        m, beh = self.model, self.model.bu
        t, site = m.t, self.node
        in_room = False
        if m.rooms_open:
            p_room = beh.room_use_prob_referred if self.referred_until >= t else beh.room_use_prob
            if m.random.random() < p_room:
                in_room = m.enter_room(site)
        p_public = beh.public_use_prob * (1.0 - m.sbd_nuisance_cut(site))
        if not in_room and m.random.random() < p_public:
            m.record("public_use", site)
            self.status, self.until = LINGERING, t + m.steps_linger
        else:
            self.status = IDLE
            self.move_to(self.home)
        self.ready = t + m.steps_min_gap

    def failed_search(self) -> None:
        """No seller here: an unserved search; try another market or give up for a while."""
        m, beh = self.model, self.model.bu
        here = self.node
        m.record("unserved_searches", here)
        m.unserved[here] += 1.0
        self.attempts += 1
        nxt = m.pick_market(here, beh.search_radius_m, exclude_origin=True)
        if self.attempts < beh.max_attempts and nxt >= 0:
            self.target = nxt
            self.arrive = m.t + m.travel_steps(here, nxt)
        else:
            self.status, self.ready = IDLE, m.t + m.steps_retry
            self.move_to(self.home)
            self.remember((m.t - self.search_start) * m.step_hours + m.bdem.give_up_hours)


class PoliceUnit(CellAgent):
    """A patrol team of a zone (``zone`` -1: regional reinforcement)."""

    model: ReferenceMarketModel

    def __init__(self, model: ReferenceMarketModel, zone: int, base: Cell):
        super().__init__(model)
        self.zone = zone
        self.base = base
        self.cell = base
        self.on_duty = False
        self.role = PATROL
        self.group = zone  # patrol group: a zone index, or the region
        self.effect = 0.0  # deterrence of the current stop

    @property
    def node(self) -> int:
        """Street node of the unit's post."""
        return self.cell.coordinate

    def step(self) -> None:
        """Patrols drive to a new node (focus units hold their post); the unit is seen around
        its post and arrests sellers within range."""
        if not self.on_duty:
            return
        m = self.model
        if self.role == PATROL:
            self.move_to(m.cells[m.patrol_node(self.group)])
        m.presence[m.within(self.node, m.cfg.police.sight_m)] += self.effect
        m.counts["police_hours"] += m.step_hours
        for cell in m.cells_within(self.node, m.cfg.police.arrest_m):
            for agent in cell.agents:
                if (isinstance(agent, Dealer) and agent.selling
                        and m.random.random() < m.cfg.police.arrest_prob):
                    m.arrest(agent)


class OutreachWorker(CellAgent):
    """A street worker of the prevention pillar assigned to a hotspot."""

    model: ReferenceMarketModel

    def __init__(self, model: ReferenceMarketModel, hotspot: int, cell: Cell):
        super().__init__(model)
        self.hotspot = hotspot
        self.cell = cell

    @property
    def node(self) -> int:
        """Street node where the worker stands."""
        return self.cell.coordinate

    def step(self) -> None:
        """Hourly move within the hotspot; on shift, contact users present nearby."""
        m, beh = self.model, self.model.bo
        if m.new_hour:
            self.move_to(m.cells[m.random.choice(m.catchment[self.hotspot])])
        if not m.outreach_on_shift:
            return
        contacts = 0
        for cell in m.cells_within(self.node, beh.contact_radius_m):
            for user in cell.agents:
                if contacts >= beh.max_contacts_per_step:
                    return
                if (isinstance(user, User) and user.status in (SEARCHING, LINGERING)
                        and user.tried != m.t):
                    user.tried = m.t
                    if m.random.random() < beh.contact_prob:
                        contacts += 1
                        self.contact(user)

    def contact(self, user: User) -> None:
        """A referral (raises room use) and, sometimes, an entry into treatment."""
        m, beh = self.model, self.model.bo
        m.record("outreach_contacts", user.node)
        user.referred_until = m.t + m.steps_referral
        if m.random.random() < beh.treatment_prob:
            m.record("treatment_entries", user.node)
            weeks = m.random.expovariate(1.0 / beh.treatment_weeks)
            user.status = TREATMENT
            user.until = m.t + int(weeks * m.clock.steps_per_week) + 1
            user.move_to(user.home)
