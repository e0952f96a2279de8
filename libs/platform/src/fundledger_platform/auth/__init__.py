"""Identity and access: who is calling (authentication) and what they may do (authorization).

See docs/security.md. Handlers never parse credentials themselves: the server's interceptors
establish a Principal for each call and put it in a context variable (`current_principal`).
"""
