"""Development tools, never shipped in the wheel nor imported by production code: the offline
stand-ins (``python -m tools.standins``) and the fault-injection suite (``python -m tools.chaos``,
``make chaos``)."""
