"""Mesa agent classes: the public face of the population arrays.

Each agent is registered with the model (so `model.agents_by_type`, AgentSet queries, DataCollector
and SolaraViz work) and reads its state from the model's numpy arrays by index. The model applies
rules to whole populations at once; these objects never need their own `step`.
"""

from __future__ import annotations

import mesa

from brusim.model import dealers, users


class _ArrayAgent(mesa.Agent):
    population: str = ""

    def __init__(self, model: mesa.Model, index: int):
        super().__init__(model)
        self.index = index

    @property
    def _state(self):
        return getattr(self.model, self.population)

    @property
    def node(self) -> int:
        """Street node index the agent is at."""
        return int(self._state.node[self.index])

    @property
    def xy(self) -> tuple[float, float]:
        """Projected coordinates (EPSG:31370 metres) of the agent's node."""
        smap = self.model.smap
        return float(smap.x[self.node]), float(smap.y[self.node])


class Dealer(_ArrayAgent):
    """A street seller in a crew; holds a selling site."""

    population = "dealers"

    @property
    def status(self) -> str:
        return dealers.STATUS_NAMES[self._state.status[self.index]]

    @property
    def crew(self) -> int:
        return int(self._state.crew[self.index])


class User(_ArrayAgent):
    """A buyer with a craving cycle who searches for sellers."""

    population = "users"

    @property
    def status(self) -> str:
        return users.STATUS_NAMES[self._state.status[self.index]]

    @property
    def home(self) -> int:
        return int(self._state.home[self.index])


class PoliceUnit(_ArrayAgent):
    """A patrol team of one zone (or a regional reinforcement, zone -1)."""

    population = "police"

    @property
    def zone(self) -> str:
        z = int(self._state.zone[self.index])
        return "regional" if z < 0 else self.model.smap.zone_ids[z]

    @property
    def on_duty(self) -> bool:
        return bool(self._state.on_duty[self.index])


class OutreachWorker(_ArrayAgent):
    """A street worker assigned to a hotspot."""

    population = "outreach"

    @property
    def hotspot(self) -> str:
        return self.model.smap.hotspots.ids[int(self._state.hotspot[self.index])]
