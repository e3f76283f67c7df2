"""The mapping studio web app (``paysync studio``): Starlette, server-rendered, no build step."""
