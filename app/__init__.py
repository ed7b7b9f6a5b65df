"""crisis-tracker: IOM emergency responses, sitreps, and people reached."""
