"""A service script for a threads=0 daemon group (WSGIImportScript): records that it runs
(STATE/service-PID.start), then loops until the process is told to stop; SystemExit (raised by
the stop signals in this mode) runs the finally block, which records STATE/service-PID.stop."""
import os
import time

STATE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "state")
PID = os.getpid()

with open(os.path.join(STATE, f"service-{PID}.start"), "w") as f:
    f.write(str(time.time()))
try:
    while True:
        time.sleep(0.2)
finally:
    with open(os.path.join(STATE, f"service-{PID}.stop"), "w") as f:
        f.write("finally ran")
