"""Configuration: the typed model, its validation, and YAML in and out."""

from simpul.config.load import (
    ConfigError,
    Problem,
    config_to_data,
    dump_config_yaml,
    load_config_file,
    load_config_text,
    parse_config,
)
from simpul.config.model import Config

__all__ = [
    "Config",
    "ConfigError",
    "Problem",
    "config_to_data",
    "dump_config_yaml",
    "load_config_file",
    "load_config_text",
    "parse_config",
]
