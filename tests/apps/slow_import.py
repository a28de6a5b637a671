"""Preloaded by WSGIImportScript in the start-up tests: a slow start-up (5 s)."""
import time

time.sleep(5)
