"""The admin UI: pure core (component, routes, stores, toasts, format) + DOM views."""
