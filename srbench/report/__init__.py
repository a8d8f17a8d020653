"""Reporting: leaderboard pages, their CSVs, pictures and index, read from the tracking store."""
