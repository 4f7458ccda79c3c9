"""What a run leaves behind: summary.json (versioned schema) and the terminal summary table."""
