"""HTTP: handlers grouped by audience, sharing one access guard, one error mapping, one template set."""
