"""Pilot flows: each a module with `run(ctx: PilotContext) -> Outcome`, read top to bottom."""
