"""The audit: what shoppers were told (the ledger), what the shop holds afterwards, and the invariants between."""
