"""The agent model: dealers, users, police and outreach workers on the street graph."""

from brusim.model.agents import Dealer, OutreachWorker, PoliceUnit, User
from brusim.model.model import BrusselsMarketModel

__all__ = ["BrusselsMarketModel", "Dealer", "OutreachWorker", "PoliceUnit", "User"]
