# A script that raises while being imported.
raise ImportError("IMPORT-TIME-MARKER")
