"""`make demo`: a realistic fund driven through every FundLedger service.

`history` generates the fund's two years of events (pure, seeded); `runner` appends them to a
running stack and shows the current state, the state a year in, a reallocation and a document.
"""
