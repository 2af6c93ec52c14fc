"""fdtrack test target: a Python program that never closes its asyncio
event loops. Each loop holds an epoll fd (its selector) and a socket pair
(its self-pipe). os._exit skips the interpreter's shutdown, which would
otherwise close them in the loops' finalizers: the loops are still open
when the process ends.

    asyncio_leak.py K
"""
import asyncio
import os
import sys


def open_loop():
    loop = asyncio.new_event_loop()
    loop.run_until_complete(asyncio.sleep(0))
    return loop


loops = [open_loop() for _ in range(int(sys.argv[1]))]
print("loops", len(loops), flush=True)
os._exit(0)
