#!/usr/bin/python3
"""A group consumer for server/group_clients_test.go.

Usage: consumer.py LIB BOOTSTRAP GROUP TOPIC NAME STRATEGY SESSION_MS

  LIB       confluent (confluent-kafka / librdkafka) or kafka-python
  STRATEGY  the assignor: range, roundrobin or cooperative-sticky
            (cooperative-sticky only with confluent)

Subscribes to TOPIC in GROUP (auto commit every 200 ms, earliest reset) and
prints one JSON object per line on stdout:

  {"event": "assigned", "partitions": [0, 3]}   whenever the assignment changes
  {"event": "record", "partition": 3, "offset": 17}
  {"event": "closed"}                           after a clean close

It consumes until stdin is closed, then closes the consumer (which commits
and leaves the group) and exits 0. Errors go to stderr with a non-zero exit.
Gives up after DEADLINE seconds.
"""

import json
import signal
import sys
import threading

DEADLINE = 120


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def fail(msg):
    print("FAIL consumer.py: %s" % msg, file=sys.stderr, flush=True)
    sys.exit(1)


def on_alarm(signum, frame):
    fail("timed out after %ds" % DEADLINE)


def main():
    if len(sys.argv) != 8:
        fail("usage: %s LIB BOOTSTRAP GROUP TOPIC NAME STRATEGY SESSION_MS" % sys.argv[0])
    lib, bootstrap, group, topic, name, strategy, session_ms = sys.argv[1:]
    session_ms = int(session_ms)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(DEADLINE)

    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()

    if lib == "confluent":
        run_confluent(bootstrap, group, topic, name, strategy, session_ms, stop)
    elif lib == "kafka-python":
        run_kafka_python(bootstrap, group, topic, name, strategy, session_ms, stop)
    else:
        fail("unknown LIB %r" % lib)
    emit({"event": "closed"})


def report(last, now):
    now = sorted(now)
    if now != last:
        emit({"event": "assigned", "partitions": now})
    return now


def run_confluent(bootstrap, group, topic, name, strategy, session_ms, stop):
    from confluent_kafka import Consumer, KafkaError

    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": name,
        "session.timeout.ms": session_ms,
        "heartbeat.interval.ms": max(100, session_ms // 10),
        "partition.assignment.strategy": strategy,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 200,
        "topic.metadata.refresh.interval.ms": 2000,
    })
    c.subscribe([topic])
    last = None
    while not stop.is_set():
        msg = c.poll(0.1)
        if msg is not None:
            err = msg.error()
            if err is None:
                emit({"event": "record", "partition": msg.partition(), "offset": msg.offset()})
            elif err.code() != KafkaError._PARTITION_EOF:
                print("consumer error: %s" % err, file=sys.stderr, flush=True)
        last = report(last, [tp.partition for tp in c.assignment() if tp.topic == topic])
    c.close()


def run_kafka_python(bootstrap, group, topic, name, strategy, session_ms, stop):
    from kafka import KafkaConsumer
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor}
    if strategy not in assignors:
        fail("kafka-python has no %s assignor here" % strategy)
    c = KafkaConsumer(
        topic,
        bootstrap_servers=[bootstrap],
        group_id=group,
        client_id=name,
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=max(100, session_ms // 10),
        request_timeout_ms=max(15000, session_ms + 5000),
        partition_assignment_strategy=[assignors[strategy]],
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        auto_commit_interval_ms=200,
        fetch_max_wait_ms=100,
        metadata_max_age_ms=2000,
        api_version_auto_timeout_ms=10000,
    )
    last = None
    while not stop.is_set():
        for tp, records in c.poll(timeout_ms=100).items():
            for r in records:
                emit({"event": "record", "partition": r.partition, "offset": r.offset})
        last = report(last, [tp.partition for tp in c.assignment() if tp.topic == topic])
    c.close()


if __name__ == "__main__":
    main()
