"""The vocabulary every layer imports downward: the questionnaire (Scenario), strategies
and pilot methods, and what a pilot measured. Imports nothing from the layers above."""
