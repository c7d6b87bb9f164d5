# The token issuer and its stores (issue: one-time impersonation tokens).
