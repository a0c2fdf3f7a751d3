# Models arrive with the auto-tagging and training issues.
