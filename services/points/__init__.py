"""The points service: accounts and an immutable ledger, lots that expire, sign-ins, newcomer, purchase and
referral points, multi-tier invitation tasks, and points held for orders.

Modules: `rules` (versioned earning and spending rules), `ledger` (accounts, entries, lots, adjustments, expiry),
`signins`, `referrals` (codes, bindings, rewards, tasks), `holds` (order holds; internal, role service),
`purchases` (purchase points, refunds, reconciliation), `subscriptions` (order event handlers). The periodic work
lives beside its rules: `holds/jobs.py` (expired holds), `ledger/jobs.py` (expired lots).

Lock order, kept everywhere so PostgreSQL never deadlocks: the effect's own row (hold, sign-in, award, referral)
first, then the account (its guarded UPDATE), then that user's lots; an inviter's account after the invitee's.
"""
