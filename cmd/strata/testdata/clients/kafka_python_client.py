#!/usr/bin/python3
"""Real-client scenario: kafka-python against a Strata broker.

Usage: kafka_python_client.py BOOTSTRAP TOPIC

  1. KafkaAdminClient creates TOPIC with 3 partitions and topic configs,
     describe_configs shows them, list_topics lists the topic.
  2. KafkaProducer (acks='all'; gzip, then lz4 when the lz4 module is present,
     else no compression) writes keyed messages with headers and explicit
     timestamps to every partition; every send must be acknowledged.
  3. KafkaConsumer without a group (group_id=None) assigned to every
     partition, seek_to_beginning, reads everything back; key, value, headers,
     timestamp, partition and offset must match.

Prints one JSON summary line on success. On failure prints a clear message to
stderr and exits non-zero. Gives up after DEADLINE seconds.
"""

import json
import logging
import random
import signal
import sys
import time
import traceback

DEADLINE = 55  # seconds for the whole script
PARTITIONS = 3
MESSAGES_PER_CODEC = 40
# Small segments: the 100 KiB records each roll a segment, so reads and
# timestamp lookups cross segment boundaries.
TOPIC_CONFIG = {"retention.ms": "3600000", "segment.bytes": "65536"}

STAGE = "start"


def fail(msg):
    print("FAIL kafka-python: %s (stage: %s)" % (msg, STAGE), file=sys.stderr, flush=True)
    sys.exit(1)


def on_alarm(signum, frame):
    fail("timed out after %ds" % DEADLINE)


def stage(name):
    global STAGE
    STAGE = name


def main():
    if len(sys.argv) != 3:
        fail("usage: %s BOOTSTRAP TOPIC" % sys.argv[0])
    bootstrap, topic = sys.argv[1], sys.argv[2]
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(DEADLINE)
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)

    try:
        import kafka
        from kafka import (KafkaAdminClient, KafkaConsumer, KafkaProducer,
                           TopicPartition)
        from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
    except ImportError as e:
        fail("cannot import kafka (kafka-python): %s" % e)

    codecs = ["gzip"]
    try:
        import lz4.frame  # noqa: F401
        codecs.append("lz4")
    except ImportError:
        codecs.append(None)  # no compression

    common = dict(bootstrap_servers=[bootstrap], request_timeout_ms=15000,
                  api_version_auto_timeout_ms=10000, client_id="strata-kafka-python")

    # --- 1. admin ---------------------------------------------------------------
    stage("admin connect")
    admin = KafkaAdminClient(**common)
    stage("create_topics")
    try:
        admin.create_topics([NewTopic(name=topic, num_partitions=PARTITIONS,
                                      replication_factor=1,
                                      topic_configs=dict(TOPIC_CONFIG))],
                            timeout_ms=10000)
    except Exception as e:
        fail("create_topics(%s): %r" % (topic, e))

    stage("describe_configs")
    responses = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    seen = {}
    for resp in responses:
        for res in resp.resources:
            error_code, error_message, _rtype, name, entries = res[:5]
            if error_code != 0:
                fail("describe_configs(%s): error %d %s" % (name, error_code, error_message))
            for e in entries:
                seen[e[0]] = e[1]
    for name, want in TOPIC_CONFIG.items():
        if seen.get(name) != want:
            fail("describe_configs: %s = %r, want %r" % (name, seen.get(name), want))

    stage("list_topics")
    topics = admin.list_topics()
    if topic not in topics:
        fail("list_topics: %s not in %s" % (topic, topics))
    desc = [t for t in admin.describe_topics([topic]) if t["topic"] == topic]
    if not desc or desc[0]["error_code"] != 0:
        fail("describe_topics(%s): %r" % (topic, desc))
    parts = sorted(p["partition"] for p in desc[0]["partitions"])
    if parts != list(range(PARTITIONS)):
        fail("describe_topics(%s): partitions %s, want 0..%d" % (topic, parts, PARTITIONS - 1))
    admin.close()

    # --- 2. produce ---------------------------------------------------------------
    rng = random.Random(7)
    base_ts = int(time.time() * 1000) - 60000
    expected = {p: [] for p in range(PARTITIONS)}
    n = 0
    for codec in codecs:
        stage("produce %s" % codec)
        producer = KafkaProducer(acks="all", compression_type=codec, linger_ms=5,
                                 max_block_ms=15000, retries=0, **common)
        futures = []
        for i in range(MESSAGES_PER_CODEC):
            p = n % PARTITIONS
            key = ("%s-key-%03d" % (codec, i)).encode()
            if i == 7:
                value = None  # tombstone
            elif i in (11, 12, 26, 27):
                value = rng.randbytes(100 * 1024)
            elif i == 13:
                value = b""
            else:
                value = ("%s value %d " % (codec, i)).encode() * (1 + i % 9)
            headers = [("codec", str(codec).encode()), ("idx", str(i).encode())]
            ts = base_ts + n
            futures.append((p, key, producer.send(topic, key=key, value=value, partition=p,
                                                  headers=headers, timestamp_ms=ts)))
            expected[p].append({"key": key, "value": value, "headers": headers, "ts": ts})
            n += 1
        producer.flush(timeout=20)
        for p, key, fut in futures:
            try:
                md = fut.get(timeout=20)
            except Exception as e:
                fail("send partition %d key %r: %r" % (p, key, e))
            if md.partition != p:
                fail("send key %r: acked for partition %d, want %d" % (key, md.partition, p))
            want_off = next(i for i, m in enumerate(expected[p]) if m["key"] == key)
            if md.offset != want_off:
                fail("send partition %d key %r: acked offset %d, want %d" % (p, key, md.offset, want_off))
        producer.close(timeout=10)

    # --- 3. consume -----------------------------------------------------------------
    stage("consume")
    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False,
                             auto_offset_reset="none", fetch_max_wait_ms=100,
                             consumer_timeout_ms=1000, **common)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]

    stage("beginning/end offsets")
    begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
    for tp in tps:
        if begin.get(tp) != 0 or end.get(tp) != len(expected[tp.partition]):
            fail("beginning/end offsets of partition %d = %s/%s, want 0/%d" % (
                tp.partition, begin.get(tp), end.get(tp), len(expected[tp.partition])))

    stage("offsets_for_times")
    mid = {tp: len(expected[tp.partition]) // 2 for tp in tps}
    found = consumer.offsets_for_times({tp: expected[tp.partition][mid[tp]]["ts"] for tp in tps})
    for tp in tps:
        got_off = found.get(tp)
        if got_off is None or got_off.offset != mid[tp] or got_off.timestamp != expected[tp.partition][mid[tp]]["ts"]:
            fail("offsets_for_times(partition %d, ts %d) = %r, want offset %d" % (
                tp.partition, expected[tp.partition][mid[tp]]["ts"], got_off, mid[tp]))

    stage("consume")
    consumer.assign(tps)
    consumer.seek_to_beginning()
    got = {p: [] for p in range(PARTITIONS)}
    deadline = time.monotonic() + 25
    while any(len(got[p]) < len(expected[p]) for p in range(PARTITIONS)):
        if time.monotonic() > deadline:
            fail("consume: gave up after 25s with %s of %s messages per partition" % (
                [len(got[p]) for p in range(PARTITIONS)],
                [len(expected[p]) for p in range(PARTITIONS)]))
        for tp, records in poll(consumer).items():
            got[tp.partition].extend(records)
    # Anything beyond what we produced would be a bug too; this poll also
    # fetches at the end of every partition (an empty Fetch answer).
    extra = poll(consumer)
    if any(extra.values()):
        fail("consume: extra records after the expected ones: %r" % extra)
    # Closing cancels the in-flight fetch, which kafka-python logs as an error.
    logging.getLogger("kafka.consumer.fetcher").setLevel(logging.CRITICAL)
    consumer.close()

    stage("compare")
    for p in range(PARTITIONS):
        want, have = expected[p], got[p]
        if len(have) != len(want):
            fail("partition %d: consumed %d records, want %d" % (p, len(have), len(want)))
        for off, (w, r) in enumerate(zip(want, have)):
            where = "partition %d offset %d" % (p, off)
            if r.topic != topic or r.partition != p:
                fail("%s: got %s/%d" % (where, r.topic, r.partition))
            if r.offset != off:
                fail("%s: offset %d, want %d (offsets must be 0..n-1)" % (where, r.offset, off))
            if r.key != w["key"]:
                fail("%s: key %r, want %r" % (where, r.key, w["key"]))
            if r.value != w["value"]:
                fail("%s (key %r): value differs: got %s, want %s" % (
                    where, w["key"], describe(r.value), describe(w["value"])))
            if list(r.headers) != w["headers"]:
                fail("%s: headers %r, want %r" % (where, r.headers, w["headers"]))
            if r.timestamp != w["ts"] or r.timestamp_type != 0:
                fail("%s: timestamp %d type %d, want %d type 0 (CreateTime)" % (
                    where, r.timestamp, r.timestamp_type, w["ts"]))

    print(json.dumps({
        "client": "kafka-python",
        "version": kafka.__version__,
        "topic": topic,
        "partitions": PARTITIONS,
        "codecs": [c or "none" for c in codecs],
        "produced": n,
        "consumed": sum(len(v) for v in got.values()),
        "listed": topic in topics,
    }), flush=True)


def poll(consumer):
    """consumer.poll, turning a crash inside kafka-python (a broker response
    it cannot parse) into a clear failure."""
    try:
        return consumer.poll(timeout_ms=500)
    except Exception as e:
        traceback.print_exc()
        fail("consumer.poll raised %r: kafka-python could not handle the broker's "
             "Fetch response (see traceback above)" % e)


def describe(v):
    if v is None:
        return "None"
    return "%d bytes %r" % (len(v), v[:40])


if __name__ == "__main__":
    main()
