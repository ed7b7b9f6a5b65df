"""The web edge, beneath the domains: middlewares (request id, language, metrics, limits,
admission, methods, query parameters), the problem+json rendering of errors, the route
table, and the health endpoints. It imports no domain: what it needs of one (who a token
belongs to) is handed to it by app.main."""
