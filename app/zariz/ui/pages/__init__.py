"""The dashboard pages: overview, orders, couriers."""
