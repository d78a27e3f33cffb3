"""The admin UI (issue 4): pure core (component, routes, stores, toasts, format) + DOM views."""
