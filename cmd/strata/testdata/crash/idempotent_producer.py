"""Idempotent librdkafka producer for the crash tests.

Produces N records "v-<i>" with acks=all and enable.idempotence=true while the
test kills and restarts the broker; prints one JSON line per delivered record
({"v": value, "p": partition, "o": offset}) and exits 0 after a final flush.
Usage: idempotent_producer.py BOOTSTRAP TOPIC N [SPREAD_SECONDS]
"""
import json
import sys
import time

from confluent_kafka import Producer

bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
spread = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
pause = max(0.05, spread / max(1, n // 500))
p = Producer({
    "bootstrap.servers": bootstrap,
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "message.timeout.ms": 240000,
    "reconnect.backoff.max.ms": 500,
    "topic.metadata.refresh.interval.ms": 1000,
})
failed = []


def report(err, msg):
    if err is not None:
        failed.append(str(err))
        return
    print(json.dumps({"v": msg.value().decode(), "p": msg.partition(), "o": msg.offset()}), flush=True)


deadline = time.time() + 240
for i in range(n):
    while True:
        try:
            p.produce(topic, key=("k%d" % (i % 30)).encode(), value=("v-%d" % i).encode(), on_delivery=report)
            break
        except BufferError:
            p.poll(0.05)
    p.poll(0)
    if i % 500 == 0:
        time.sleep(pause)  # spread the run over the faults
left = p.flush(max(1, deadline - time.time()))
if left:
    print("producer: %d records still undelivered at exit" % left, file=sys.stderr)
    sys.exit(1)
if failed:
    print("producer: %d delivery errors, first: %s" % (len(failed), failed[0]), file=sys.stderr)
sys.exit(0)
