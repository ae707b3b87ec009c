"""The pingpong workload on SimPy 4.1, in its fastest idiom: a timeout
event per message, with a callback that schedules the answer, so no
generator process is resumed per event. Usage: NODES IN_FLIGHT TOTAL."""

import random
import sys
import time

import simpy


def main():
    numbers = [int(a) for a in sys.argv[1:4]]
    nodes, in_flight, total = (numbers + [5, 1000, 500_000][len(numbers):])[:3]
    rng = random.Random(1)
    env = simpy.Environment()
    count = [0]

    def send(me):
        to = rng.randrange(nodes - 1)
        if to >= me:
            to += 1
        env.timeout(rng.uniform(0.001, 0.002), value=to).callbacks.append(deliver)

    def deliver(event):
        count[0] += 1
        if count[0] < total:
            send(event.value)

    for i in range(in_flight):
        send(i % nodes)
    started = time.perf_counter()
    env.run()
    wall = time.perf_counter() - started
    print(
        f"simpy: nodes={nodes} in_flight={in_flight} delivered={count[0]} "
        f"virtual_s={env.now:.3f} wall_s={wall:.3f} events_per_s={count[0] / wall:.0f}"
    )


main()
