"""What the three GoChat services share: settings, database, models, tokens, passwords, errors."""
