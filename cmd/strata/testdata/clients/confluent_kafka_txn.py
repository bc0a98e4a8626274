#!/usr/bin/python3
"""Real-client scenario: confluent-kafka's (librdkafka's) transactional
producer against a Strata broker.

Usage: confluent_kafka_txn.py BOOTSTRAP TOPIC

  1. A Producer with transactional.id initializes, commits a transaction of
     COMMITTED messages and aborts one of ABORTED messages over the topic's
     partitions.
  2. A second Producer with the same transactional.id initializes; the first
     one is fenced: its next transaction fails with a fatal error
     (_FENCED / PRODUCER_FENCED / INVALID_PRODUCER_EPOCH).
  3. The second producer commits a transaction of COMMITTED messages.
  4. A read_committed Consumer reads the partitions to their end and counts
     what it sees by prefix (reported; the Go test checks that it is both
     committed transactions whole and nothing else).

Prints one JSON summary line on success. On failure prints a clear message to
stderr and exits non-zero. Gives up after DEADLINE seconds.
"""

import json
import signal
import sys
import time

DEADLINE = 55
PARTITIONS = 3
COMMITTED = 30
ABORTED = 12
STAGE = "start"


def fail(msg):
    print("FAIL confluent-kafka txn: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def on_alarm(signum, frame):
    fail("timed out after %ds (stage: %s)" % (DEADLINE, STAGE))


def stage(name):
    global STAGE
    STAGE = name


def produce_all(p, topic, prefix, n):
    for i in range(n):
        p.produce(topic, value=("%s-%d" % (prefix, i)).encode(), partition=i % PARTITIONS)
        p.poll(0)
    p.flush(20)


def main():
    if len(sys.argv) != 3:
        fail("usage: %s BOOTSTRAP TOPIC" % sys.argv[0])
    bootstrap, topic = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(DEADLINE)
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    stage("create topic")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    for f in fs.values():
        f.result(15)

    conf = {"bootstrap.servers": bootstrap, "transactional.id": topic + "-txn", "transaction.timeout.ms": 30000}
    stage("init first producer")
    p1 = Producer(conf)
    p1.init_transactions(15)
    stage("commit")
    p1.begin_transaction()
    produce_all(p1, topic, "c1", COMMITTED)
    p1.commit_transaction(15)
    stage("abort")
    p1.begin_transaction()
    produce_all(p1, topic, "a1", ABORTED)
    p1.abort_transaction(15)

    stage("init second producer")
    p2 = Producer(conf)
    p2.init_transactions(15)

    stage("fenced first producer")
    fenced, fence_error = False, ""
    try:
        p1.begin_transaction()
        produce_all(p1, topic, "zombie", 3)
        p1.commit_transaction(15)
    except KafkaException as e:
        err = e.args[0]
        fence_error = "%s fatal=%s" % (err.name(), err.fatal())
        fenced = err.fatal() or "FENCED" in err.name() or "EPOCH" in err.name()
    if not fenced:
        fail("the first producer was not fenced (%s)" % fence_error)

    stage("commit second producer")
    p2.begin_transaction()
    produce_all(p2, topic, "c2", COMMITTED)
    p2.commit_transaction(15)

    stage("read_committed consumer")
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": topic + "-reader", "isolation.level": "read_committed",
                  "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    seen = {}
    idle_since = time.time()
    while time.time() - idle_since < 3:
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            continue
        idle_since = time.time()
        prefix = m.value().decode().split("-")[0]
        seen[prefix] = seen.get(prefix, 0) + 1
    c.close()
    print(json.dumps({"committed": 2 * COMMITTED, "aborted": ABORTED, "fenced": fenced, "fence_error": fence_error,
                      "read_committed": seen}), flush=True)


if __name__ == "__main__":
    main()
