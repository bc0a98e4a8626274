#!/usr/bin/python3
"""Real-client scenario: confluent-kafka (librdkafka) against a Strata broker.

Usage: confluent_kafka_client.py BOOTSTRAP TOPIC

  1. AdminClient creates TOPIC with 3 partitions and topic configs, checks them
     with describe_configs and list_topics.
  2. One Producer per compression codec (acks=all) writes keyed messages with
     headers and explicit timestamps to all partitions; every delivery report
     must be OK.
  3. A Consumer assigned to every partition at OFFSET_BEGINNING (no group
     membership, no commits) reads everything back; key, value, headers,
     timestamp, partition and offset must match what was produced.
  4. AdminClient deletes TOPIC and list_topics stops showing it.

Prints one JSON summary line on success. On failure prints a clear message to
stderr and exits non-zero. Gives up after DEADLINE seconds.
"""

import json
import logging
import random
import signal
import sys
import time

DEADLINE = 55  # seconds for the whole script
PARTITIONS = 3
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
MESSAGES_PER_CODEC = 40
TOPIC_CONFIG = {"retention.ms": "3600000", "segment.bytes": "1048576"}


def fail(msg):
    print("FAIL confluent-kafka: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def on_alarm(signum, frame):
    fail("timed out after %ds (stage: %s)" % (DEADLINE, STAGE))


STAGE = "start"


def stage(name):
    global STAGE
    STAGE = name


def main():
    if len(sys.argv) != 3:
        fail("usage: %s BOOTSTRAP TOPIC" % sys.argv[0])
    bootstrap, topic = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(DEADLINE)

    try:
        import confluent_kafka
        from confluent_kafka import (Consumer, KafkaError, OFFSET_BEGINNING,
                                     Producer, TopicPartition)
        from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic
    except ImportError as e:
        fail("cannot import confluent_kafka: %s" % e)

    common = {
        "bootstrap.servers": bootstrap,
        "socket.timeout.ms": 10000,
        "broker.address.family": "v4",
        "logger": rdkafka_logger(),
    }

    # --- 1. admin: create, describe, list -----------------------------------
    stage("create_topics")
    admin = AdminClient(dict(common))
    futs = admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1,
                  config=dict(TOPIC_CONFIG))],
        operation_timeout=10, request_timeout=15)
    try:
        futs[topic].result(timeout=20)
    except Exception as e:
        fail("create_topics(%s): %r" % (topic, e))

    stage("describe_configs")
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    try:
        configs = admin.describe_configs([res], request_timeout=15)[res].result(timeout=20)
    except Exception as e:
        fail("describe_configs(%s): %r" % (topic, e))
    for name, want in TOPIC_CONFIG.items():
        entry = configs.get(name)
        if entry is None:
            fail("describe_configs: %s missing; got %s" % (name, sorted(configs)))
        if entry.value != want:
            fail("describe_configs: %s = %r, want %r" % (name, entry.value, want))

    stage("list_topics")
    md = admin.list_topics(timeout=15)
    tmd = md.topics.get(topic)
    if tmd is None:
        fail("list_topics: %s not listed; topics=%s" % (topic, sorted(md.topics)))
    if tmd.error is not None:
        fail("list_topics: %s has error %s" % (topic, tmd.error))
    if sorted(tmd.partitions) != list(range(PARTITIONS)):
        fail("list_topics: %s partitions %s, want 0..%d" % (topic, sorted(tmd.partitions), PARTITIONS - 1))
    for p, pmd in tmd.partitions.items():
        if pmd.error is not None:
            fail("list_topics: partition %d error %s" % (p, pmd.error))
        if pmd.leader not in md.brokers:
            fail("list_topics: partition %d leader %d not among brokers %s" % (p, pmd.leader, sorted(md.brokers)))

    # --- 2. produce with every codec ----------------------------------------
    rng = random.Random(42)
    base_ts = int(time.time() * 1000) - 60000
    expected = {p: [] for p in range(PARTITIONS)}  # partition -> [message dict]
    reports = []

    def on_delivery(err, msg):
        reports.append((err, msg.partition(), msg.offset(), msg.key()))

    n = 0
    for codec in CODECS:
        stage("produce " + codec)
        producer = Producer(dict(common, **{
            "acks": "all",
            "compression.type": codec,
            "linger.ms": 5,
            "message.timeout.ms": 20000,
            "request.timeout.ms": 10000,
        }))
        for i in range(MESSAGES_PER_CODEC):
            p = n % PARTITIONS
            key = ("%s-key-%03d" % (codec, i)).encode()
            if i == 7:
                value = None  # tombstone
            elif i == 11:
                value = rng.randbytes(100 * 1024)  # incompressible, 100 KiB
            elif i == 13:
                value = b""
            else:
                value = ("%s value %d " % (codec, i)).encode() * (1 + i % 9)
            headers = [("codec", codec.encode()), ("idx", str(i).encode())]
            if i % 5 == 0:
                headers.append(("dup", b"a"))
                headers.append(("dup", b"b"))
            ts = base_ts + n
            producer.produce(topic, value=value, key=key, partition=p,
                             headers=headers, timestamp=ts, on_delivery=on_delivery)
            expected[p].append({"key": key, "value": value,
                                "headers": headers, "ts": ts})
            n += 1
            producer.poll(0)
        left = producer.flush(25)
        if left:
            fail("produce %s: %d messages still undelivered after flush" % (codec, left))

    check_protocol_errors("produce")
    stage("delivery reports")
    if len(reports) != n:
        fail("got %d delivery reports, want %d" % (len(reports), n))
    errors = [r for r in reports if r[0] is not None]
    if errors:
        fail("%d delivery reports failed, first: partition %d key %r err %s"
             % (len(errors), errors[0][1], errors[0][3], errors[0][0]))
    report_offsets = {}
    for _, p, off, key in reports:
        report_offsets[(p, key)] = off

    # --- 3. consume everything back -----------------------------------------
    stage("consume")
    consumer = Consumer(dict(common, **{
        "group.id": "strata-client-test-confluent",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "error",
        "fetch.wait.max.ms": 100,
    }))

    stage("watermarks")
    for p in range(PARTITIONS):
        lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if (lo, hi) != (0, len(expected[p])):
            fail("get_watermark_offsets(partition %d) = (%d, %d), want (0, %d)" % (p, lo, hi, len(expected[p])))

    stage("offsets_for_times")
    # By timestamp (ListOffsets with a timestamp, the time index): the middle
    # record's own timestamp finds it; one past the newest finds nothing (-1).
    # (One request per lookup kind: a partition may appear once per request.)
    for kind in ("middle", "after newest"):
        query, want = [], {}
        for p in range(PARTITIONS):
            if kind == "middle":
                mid = len(expected[p]) // 2
                query.append(TopicPartition(topic, p, expected[p][mid]["ts"]))
                want[p] = mid
            else:
                query.append(TopicPartition(topic, p, expected[p][-1]["ts"] + 1000))
                want[p] = -1
        asked = {tp.partition: tp.offset for tp in query}
        for tp in consumer.offsets_for_times(query, timeout=10):
            if tp.error is not None or tp.offset != want[tp.partition]:
                fail("offsets_for_times(%s: partition %d, ts %d) = offset %d error %s, want offset %d" % (
                    kind, tp.partition, asked[tp.partition], tp.offset, tp.error, want[tp.partition]))

    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
    got = {p: [] for p in range(PARTITIONS)}
    eof = set()
    warnings = []
    consume_deadline = time.monotonic() + 25
    while len(eof) < PARTITIONS:
        if time.monotonic() > consume_deadline:
            fail("consume: gave up after 25s with %s of %s messages per partition; "
                 "consumer errors: %s" % (
                     [len(got[p]) for p in range(PARTITIONS)],
                     [len(expected[p]) for p in range(PARTITIONS)], warnings[:10]))
        msg = consumer.poll(0.5)
        check_protocol_errors("consume")
        if msg is None:
            continue
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                if len(got[msg.partition()]) >= len(expected[msg.partition()]):
                    eof.add(msg.partition())
                continue
            if err.fatal():
                fail("consumer fatal error: %s" % err)
            warnings.append(str(err))
            continue
        got[msg.partition()].append(msg)
    consumer.close()

    stage("compare")
    for p in range(PARTITIONS):
        want, have = expected[p], got[p]
        if len(have) != len(want):
            fail("partition %d: consumed %d messages, want %d" % (p, len(have), len(want)))
        for off, (w, m) in enumerate(zip(want, have)):
            where = "partition %d offset %d" % (p, off)
            if m.topic() != topic:
                fail("%s: topic %r, want %r" % (where, m.topic(), topic))
            if m.offset() != off:
                fail("%s: offset %d, want %d (offsets must be 0..n-1)" % (where, m.offset(), off))
            if report_offsets.get((p, w["key"])) != off:
                fail("%s: delivery report said offset %s" % (where, report_offsets.get((p, w["key"]))))
            if m.key() != w["key"]:
                fail("%s: key %r, want %r" % (where, m.key(), w["key"]))
            if m.value() != w["value"]:
                fail("%s (key %r): value differs: got %s, want %s" % (
                    where, w["key"], describe(m.value()), describe(w["value"])))
            mh = [(k, v) for k, v in (m.headers() or [])]
            if mh != w["headers"]:
                fail("%s: headers %r, want %r" % (where, mh, w["headers"]))
            tstype, ts = m.timestamp()
            if tstype != confluent_kafka.TIMESTAMP_CREATE_TIME or ts != w["ts"]:
                fail("%s: timestamp (%d, %d), want (CREATE_TIME, %d)" % (where, tstype, ts, w["ts"]))

    # --- 4. delete ------------------------------------------------------------
    stage("delete_topics")
    try:
        admin.delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)
    except Exception as e:
        fail("delete_topics(%s): %r" % (topic, e))
    gone = False
    for _ in range(20):
        if topic not in admin.list_topics(timeout=10).topics:  # all topics: no auto-create
            gone = True
            break
        time.sleep(0.5)
    if not gone:
        fail("delete_topics: %s still listed after 10s" % topic)

    check_protocol_errors("admin")
    print(json.dumps({
        "client": "confluent-kafka",
        "version": confluent_kafka.version()[0],
        "librdkafka": confluent_kafka.libversion()[0],
        "topic": topic,
        "partitions": PARTITIONS,
        "codecs": CODECS,
        "produced": n,
        "consumed": sum(len(v) for v in got.values()),
        "deleted": gone,
        "warnings": warnings,
    }), flush=True)


class ProtocolErrors(logging.Handler):
    """Collects librdkafka's protocol-level complaints (PROTOERR, parse
    failures): they mean the broker sent something a real client rejects."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.errors = []

    def emit(self, record):
        msg = record.getMessage()
        if "PROTOERR" in msg or "Protocol parse failure" in msg or "PROTOUFLOW" in msg:
            self.errors.append(msg)


def rdkafka_logger():
    log = logging.getLogger("rdkafka")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(PROTO_ERRORS)
    echo = logging.StreamHandler(sys.stderr)
    echo.setLevel(logging.WARNING)
    log.addHandler(echo)
    return log


PROTO_ERRORS = ProtocolErrors()


def check_protocol_errors(where):
    if PROTO_ERRORS.errors:
        fail("%s: librdkafka rejected a broker response (%d times); first: %s" % (
            where, len(PROTO_ERRORS.errors), PROTO_ERRORS.errors[0]))


def describe(v):
    if v is None:
        return "None"
    return "%d bytes %r" % (len(v), v[:40])


if __name__ == "__main__":
    main()
