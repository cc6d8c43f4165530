#!/usr/bin/env python3
"""Where the dispatcher and the sink ran, during a drain (a diagnostic for bench/webhooks.sh).

    python3 bench/cpushare.py FLOWGATE_PID SECONDS [--rows]

Every 20 ms it reads /proc/<tid>/schedstat (time on a CPU, time waiting for one) and the CPU each
thread last ran on, for flowgate's dispatcher (fg-webhooks) and writer (fg-writer) threads and
for every nginx worker (the sink of bench/sink.sh). It prints the share of samples in which the
sink's worker last ran on the dispatcher's vCPU, and the dispatcher's and writer's milliseconds
on a CPU and waiting for one per 20 ms. With --rows, every sample as well.

On two vCPUs the scheduler tends to keep the sink on the sender's vCPU once a wake-up put it
there; the sender then waits while the sink runs. libcurl alone runs nothing else, so the sink's
own vCPU is idle whenever it wakes and it stays there. See bench/README.md ("Fourth session").
"""
import glob
import os
import sys
import time


def threads(pid):
    found = {}
    for task in glob.glob(f'/proc/{pid}/task/*'):
        try:
            name = open(task + '/comm').read().strip()
        except OSError:
            continue
        if name in ('fg-webhooks', 'fg-writer'):
            found[name] = task
    for proc in glob.glob('/proc/[0-9]*'):
        try:
            if (open(proc + '/comm').read().strip() == 'nginx' and
                    'worker' in open(proc + '/cmdline').read()):
                found['nginx:' + os.path.basename(proc)] = proc
        except OSError:
            continue
    return found


def sample(path):
    """(ns on a CPU, ns waiting for one, the CPU it last ran on), or None once it is gone."""
    try:
        on, wait = open(path + '/schedstat').read().split()[:2]
        cpu = open(path + '/stat').read().rsplit(')', 1)[1].split()[36]
        return int(on), int(wait), int(cpu)
    except (OSError, IndexError, ValueError):
        return None


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    pid, seconds, rows = sys.argv[1], float(sys.argv[2]), '--rows' in sys.argv
    paths = threads(pid)
    if 'fg-webhooks' not in paths:
        sys.exit(f'no fg-webhooks thread in process {pid}')
    sinks = [k for k in paths if k.startswith('nginx:')]
    last = {k: sample(p) for k, p in paths.items()}
    shared = total = 0
    sums = {'fg-webhooks': [0, 0], 'fg-writer': [0, 0]}
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        time.sleep(0.02)
        now = {k: sample(p) for k, p in paths.items()}
        if now['fg-webhooks'] is None:
            break  # flowgate stopped
        row = []
        for k in sorted(now):
            if now[k] is None or last[k] is None:
                continue
            on = (now[k][0] - last[k][0]) / 1e6
            wait = (now[k][1] - last[k][1]) / 1e6
            if k in sums:
                sums[k][0] += on
                sums[k][1] += wait
            row.append(f'{k.split(":")[0]} {on:.0f}/{wait:.0f} ms @{now[k][2]}')
        # the sink worker that ran in this sample (the busiest, when there are several)
        busy = [k for k in sinks if now[k] and last[k] and now[k][0] > last[k][0]]
        if busy:
            sink = max(busy, key=lambda k: now[k][0] - last[k][0])
            total += 1
            shared += now[sink][2] == now['fg-webhooks'][2]
        if rows:
            print(f'{time.monotonic() - start:6.2f}  ' + '  '.join(row))
        last = now
    n = max(1, total)
    print(f'sink on the dispatcher\'s vCPU in {100 * shared // n} % of {total} samples; per 20 ms: '
          f'dispatcher {sums["fg-webhooks"][0] / n:.1f} ms on a CPU, '
          f'{sums["fg-webhooks"][1] / n:.1f} waiting; '
          f'writer {sums["fg-writer"][0] / n:.1f} ms on a CPU')


if __name__ == '__main__':
    main()
