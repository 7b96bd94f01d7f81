"""OPC UA: subscriptions and polling of scalars and arrays, security, browse, backfill."""
