"""``make chaos``: a bounded fault-injection soak of the devstack's release. N conversions through the
public API while faults drawn from a seed are injected; then the invariants every outage must keep.

- ``client``: the soak's HTTP client (every answer recorded), its users and their uploads;
- ``workload``: the inputs, the submissions and the cancellations;
- ``faults``: the fault kinds, the seeded schedule and the injector;
- ``facts``: what the world looks like afterwards (MongoDB, Kubernetes, RabbitMQ, the mailbox);
- ``invariants``: the five checks, pure functions of the facts;
- ``report``: the JSON and Markdown under bench/results/ and the table printed.
"""
