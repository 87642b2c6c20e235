"""The agent model: dealers, users, police and outreach workers on the street graph."""

from brusim.model.numba_cache import use_keyed_cache

# before any kernel module is imported: each kernel's cache folder is fixed when it is defined
NUMBA_CACHE_FOLDER = use_keyed_cache()

from brusim.model.agents import Dealer, OutreachWorker, PoliceUnit, User  # noqa: E402
from brusim.model.model import BrusselsMarketModel  # noqa: E402

__all__ = ["BrusselsMarketModel", "Dealer", "NUMBA_CACHE_FOLDER", "OutreachWorker", "PoliceUnit",
           "User"]
