"""Who is calling and what they may do: identities, roles -> permissions, the FastAPI dependencies."""
