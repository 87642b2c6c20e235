"""The map layer: street-network sources, compilation into a `StreetMap`, caching and plots.

Typical use::

    from brusim.map import MapSettings, load_street_map
    smap = load_street_map(MapSettings(source="graphml", path="streets.graphml"))
"""

from brusim.map.loader import MapSettings, load_street_map, resolve_settings
from brusim.map.streetmap import PlaceSet, StreetMap

__all__ = ["MapSettings", "PlaceSet", "StreetMap", "load_street_map", "resolve_settings"]
