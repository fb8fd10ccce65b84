"""Usage metering: chat and voice tokens and voice seconds per day, tenant, user, agent and model."""
