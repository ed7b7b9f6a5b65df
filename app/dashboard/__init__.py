"""The web dashboard: static pages that call the JSON API with the user's token."""
