"""Configuration: dataclass schemas (registered with Hydra) and validation."""

from brusim.config.schema import BrusimConfig, register_configs

__all__ = ["BrusimConfig", "register_configs"]
