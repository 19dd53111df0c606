"""Talking to OpenAI-compatible servers: the chat-completions client with its retries
(`chat`), keeping C requests in flight while results come back in order (`inflight`), and
the judge that grades open-ended answers (`judge`)."""
