"""The policy levers a scenario sets, and switching them on a running model.

A scenario is a policy: how the police deploy (``police``), the courts' capacity (``courts``),
the outreach teams (``population.n_outreach``, ``behaviour.outreach``), the consumption rooms
and security by design (``scenario``). Everything else (the people, their behaviour, the map,
the clock) is the market, and a scenario may not change it: a comparison asks what a policy
does to one and the same market.

The market runs under the baseline's policy until the intervention; `adopt_policy` then
rebuilds the policy components from the scenario's config (units, strategy and deployment,
outreach workers, rooms, security-by-design cuts, the rules' parameters) and leaves the
market's state as it is. Every component it rebuilds recomputes its state at the next hour
from the market and the keyed draws alone, so adopting an unchanged policy changes nothing
(tests/test_branch.py). At a withdrawal the baseline's police settings are adopted again
(rooms, outreach and security by design stay).
"""

from __future__ import annotations

from brusim.errors import ConfigError

POLICY_PREFIXES = ("scenario.", "police.", "courts.", "behaviour.outreach.")
POLICY_KEYS = ("population.n_outreach",)
# how long a run is and how it is saved: a scenario may set these too
RUN_PREFIXES = ("run.", "spinup.")
RUN_KEYS = ("weeks", "burn_in_weeks")


def is_policy_key(key: str) -> bool:
    """Whether a dotted config key is a policy lever (or a run setting) a scenario may set."""
    return (key in POLICY_KEYS or key in RUN_KEYS
            or key.startswith(POLICY_PREFIXES) or key.startswith(RUN_PREFIXES))


def market_differences(base, cfg) -> list[str]:
    """The market settings (non-policy keys) in which ``cfg`` differs from ``base``, as
    ``key: base -> cfg`` lines."""
    from brusim.experiments.manifest import changed_settings, flat_settings

    a, b = flat_settings(base), flat_settings(cfg)
    return [line for line in changed_settings(a, b) if not is_policy_key(line.split(":")[0])]


def refuse_market_changes(base, cfg) -> None:
    """ConfigError naming the market settings a scenario changes (it may change policy only)."""
    changed = market_differences(base, cfg)
    if changed:
        name = cfg.scenario.name
        raise ConfigError(
            f"scenario {name!r} changes the market, not only the policy ({'; '.join(changed)}); "
            "set these for every scenario of the comparison (an override of all runs)")


def adopt_policy(model, cfg) -> None:
    """Rebuild ``model``'s policy components from ``cfg`` (the market's state is kept)."""
    from brusim.config.validate import validate
    from brusim.model.agents import OutreachWorker, PoliceUnit
    from brusim.model.outreach import OutreachPlan, init_outreach
    from brusim.model.police import Deployment, init_police
    from brusim.model.rooms import build_rooms
    from brusim.model.strategies import make_strategy

    if hasattr(cfg, "_metadata"):  # a DictConfig
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_object(cfg)
    refuse_market_changes(model.cfg, cfg)
    validate(cfg, model.smap)
    smap, clock, world = model.smap, model.clock, model.world
    balls_changed = (cfg.police.sight_m, cfg.police.arrest_m) != (model.cfg.police.sight_m,
                                                                  model.cfg.police.arrest_m)
    model.cfg = cfg
    if balls_changed:
        world.attach(cfg, smap)
    world.set_scenario(cfg)
    for agent in [*model.agents_by_type.get(PoliceUnit, []),
                  *model.agents_by_type.get(OutreachWorker, [])]:
        agent.remove()
    model.police = init_police(smap, cfg.police)
    model.strategy = make_strategy(cfg.police, smap)
    model.deployment = Deployment(cfg, world, clock, model.police, model.strategy, model.key)
    model.outreach = init_outreach(smap, cfg.population.n_outreach,
                                   list(cfg.behaviour.outreach.hotspots))
    model.outreach_plan = OutreachPlan(cfg, smap, clock, len(model.outreach))
    model.rooms, model.room_schedule = build_rooms(cfg, smap, clock, model.origin,
                                                   model.intervention_step)
    for i in range(len(model.police)):
        PoliceUnit(model, i)
    for i in range(len(model.outreach)):
        OutreachWorker(model, i)
    model._set_parameters()
