"""The names `__main__.py` gives its components, and what follows from them for the driver."""

from __future__ import annotations

from components import netbird_connector, netbird_realm
from components.adoption import Declared
from components.settings import Settings

REALM = "netbird"
CONNECTOR = "netbird-connector"


def adoptable(settings: Settings) -> list[Declared]:
    """Every Keycloak object of the program that adoption looks for (components/adoption.py)."""
    objects = netbird_realm.adoptable(REALM, settings.netbird)
    if settings.netbird.integration == "connector":
        objects += netbird_connector.adoptable(CONNECTOR, settings.netbird)
    return objects
