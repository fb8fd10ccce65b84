"""The agent catalogue: who Engram's agents are, how they speak, and which voice each uses."""

from app.agents.catalogue import Agent, AgentNotFound, catalogue, get_agent

__all__ = ["Agent", "AgentNotFound", "catalogue", "get_agent"]
