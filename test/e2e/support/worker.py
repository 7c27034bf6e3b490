"""A stand-in for INLOOP's Huey consumer (huey is not installable offline here).

Like a Huey consumer it runs the app's code with Django set up, takes jobs from a Redis
list and writes results back to Redis. Each result names the release that ran the job
and the number of notes it saw, so a test can tell which code a restarted worker runs.
On TERM it finishes the job at hand, then exits.

    worker.py <app_dir> <queue> <ready_file>
"""
import os
import signal
import socket
import sys

app_dir, queue, ready_file = sys.argv[1:4]
sys.path.insert(0, app_dir)
os.chdir(app_dir)
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'fixture.settings')

import django  # noqa: E402

django.setup()

from fixture.version import VERSION  # noqa: E402
from notes.models import Note  # noqa: E402


class Redis:
    """Just enough RESP for BRPOP and SET (the redis package is not installed)."""

    def __init__(self, host='127.0.0.1', port=6379):
        self.sock = socket.create_connection((host, port))
        self.file = self.sock.makefile('rb')

    def call(self, *args):
        out = b'*%d\r\n' % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b'$%d\r\n%s\r\n' % (len(a), a)
        self.sock.sendall(out)
        return self.reply()

    def reply(self):
        line = self.file.readline().rstrip(b'\r\n')
        kind, rest = line[:1], line[1:]
        if kind == b'+':
            return rest.decode()
        if kind == b'-':
            raise RuntimeError(rest.decode())
        if kind == b':':
            return int(rest)
        if kind == b'$':
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)[:-2]
            return data.decode()
        if kind == b'*':
            n = int(rest)
            return None if n < 0 else [self.reply() for _ in range(n)]
        raise RuntimeError(f'unexpected reply {line!r}')


stopping = False


def stop(*_):
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
redis = Redis()
redis.call('PING')
with open(ready_file + '.tmp', 'w') as f:
    f.write(f'{os.getpid()} {VERSION}\n')
os.replace(ready_file + '.tmp', ready_file)
print(f'worker {os.getpid()} ready, release {VERSION}, queue {queue}', flush=True)

while not stopping:
    job = redis.call('BRPOP', queue, 1)
    if job is None:
        continue
    _, job_id = job
    redis.call('SET', f'{queue}:done:{job_id}', f'{VERSION} notes={Note.objects.count()}', 'EX', 3600)
    print(f'worker {os.getpid()}: job {job_id} done', flush=True)
print(f'worker {os.getpid()} stopped', flush=True)
