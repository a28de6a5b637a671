"""Shared module for test_app_groups.py: one copy per interpreter. The groups_state.wsgi script
that imports it claims OWNER; COUNTER counts that interpreter's requests."""
import threading

OWNER = None
COUNTER = 0
LOCK = threading.Lock()
