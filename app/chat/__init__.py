"""Chat: the AI gateway client (openai SDK) and the chat service."""
