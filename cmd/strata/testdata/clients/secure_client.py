#!/usr/bin/python3
"""Real-client scenario over a secured listener (SASL_SSL, SSL).

Usage: secure_client.py LIB BOOTSTRAP TOPIC CONFIG_JSON [expect-fail]

LIB is confluent (confluent-kafka, librdkafka) or kafka-python. CONFIG_JSON
holds the security settings in librdkafka's names (security.protocol,
sasl.mechanism, sasl.username, sasl.password, ssl.ca.location,
ssl.certificate.location, ssl.key.location); they are translated for
kafka-python. The script produces 20 messages to TOPIC (acks=all) and reads
them back from the start, then prints one JSON summary line.

With expect-fail it instead expects the first request to fail and prints
{"failed": true, "error": "..."}; it exits non-zero if it was served.
"""

import json
import signal
import sys

DEADLINE = 45
N = 20


def fail(msg):
    print("FAIL secure_client: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


signal.signal(signal.SIGALRM, lambda *_: fail("timed out after %ds" % DEADLINE))
signal.alarm(DEADLINE)

lib, bootstrap, topic, conf = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
expect_fail = len(sys.argv) > 5 and sys.argv[5] == "expect-fail"


def confluent():
    from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition, OFFSET_BEGINNING

    base = dict(conf)
    base["bootstrap.servers"] = bootstrap
    base["broker.address.family"] = "v4"
    if expect_fail:
        from confluent_kafka.admin import AdminClient
        errors = []
        base["error_cb"] = lambda e: errors.append(str(e))
        try:
            AdminClient(base).list_topics(timeout=10)
        except KafkaException as e:
            print(json.dumps({"failed": True, "error": str(e) + " " + " ".join(errors)}))
            return
        fail("list_topics was served")
    p = Producer(dict(base, acks="all"))
    failures = []
    for i in range(N):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i,
                  on_delivery=lambda err, msg: failures.append(str(err)) if err else None)
    left = p.flush(20)
    if left or failures:
        fail("produce: %d undelivered, errors %s" % (left, failures[:3]))
    c = Consumer(dict(base, **{"group.id": topic + "-group", "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got = []
    while len(got) < N:
        m = c.poll(5)
        if m is None:
            continue
        if m.error():
            fail("consume: %s" % m.error())
        got.append(m.value())
    c.close()
    if got != [b"v%d" % i for i in range(N)]:
        fail("read back %r" % got[:5])
    print(json.dumps({"produced": N, "consumed": len(got)}))


def kafka_python():
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.errors import KafkaError

    kw = {"bootstrap_servers": bootstrap, "security_protocol": conf["security.protocol"]}
    if "sasl.mechanism" in conf:
        kw.update(sasl_mechanism=conf["sasl.mechanism"], sasl_plain_username=conf["sasl.username"],
                  sasl_plain_password=conf["sasl.password"])
    if "ssl.ca.location" in conf:
        kw.update(ssl_cafile=conf["ssl.ca.location"], ssl_check_hostname=True)
    if "ssl.certificate.location" in conf:
        kw.update(ssl_certfile=conf["ssl.certificate.location"], ssl_keyfile=conf["ssl.key.location"])
    if expect_fail:
        try:
            KafkaProducer(request_timeout_ms=5000, api_version_auto_timeout_ms=5000, **kw).partitions_for(topic)
        except KafkaError as e:
            print(json.dumps({"failed": True, "error": "%s: %s" % (type(e).__name__, e)}))
            return
        except Exception as e:  # kafka-python raises plain errors for some handshake failures
            print(json.dumps({"failed": True, "error": "%s: %s" % (type(e).__name__, e)}))
            return
        fail("served")
    p = KafkaProducer(acks="all", **kw)
    for i in range(N):
        p.send(topic, key=b"k%d" % i, value=b"v%d" % i).get(timeout=20)
    p.close()
    c = KafkaConsumer(consumer_timeout_ms=15000, auto_offset_reset="earliest", enable_auto_commit=False, **kw)
    c.assign([TopicPartition(topic, 0)])
    c.seek_to_beginning()
    got = []
    for m in c:
        got.append(m.value)
        if len(got) == N:
            break
    c.close()
    if got != [b"v%d" % i for i in range(N)]:
        fail("read back %r" % got[:5])
    print(json.dumps({"produced": N, "consumed": len(got)}))


if lib == "confluent":
    confluent()
elif lib == "kafka-python":
    kafka_python()
else:
    fail("unknown LIB " + lib)
