"""Replay a recording into the live platform, at real time, faster, or as fast as possible."""
