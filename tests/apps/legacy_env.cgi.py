# A second legacy CGI script: shows what a previous request may have left in os.environ.
import os

print("Content-Type: text/plain")
print()
print(f"pid={os.getpid()}")
print(f"x-test={os.environ.get('HTTP_X_TEST')}")
print(f"leak={os.environ.get('CGI_LEAK')}")
print(f"path={'PATH' in os.environ}")
