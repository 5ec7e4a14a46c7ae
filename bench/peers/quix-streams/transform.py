"""Benchmark peer: the JSON filter-and-enrich transform, written with Quix Streams.

Reads JSON objects from $BENCH_INPUT, drops those whose "level" is "debug", adds
"pipeline": "bench" to the rest and writes them as compact JSON to $BENCH_OUTPUT with
the same key. Quix passes the input record's headers and timestamp on to the output by
default. Runs until SIGTERM or SIGINT, which Quix handles: it stops polling, flushes the
producer, commits and leaves the group.
"""

import os

from quixstreams import Application


def main() -> None:
    app = Application(
        broker_address=os.environ["BENCH_BROKERS"],
        consumer_group=os.environ["BENCH_GROUP"],
        auto_offset_reset="earliest",
        # At-least-once is Quix's default; named here because the benchmark depends on it.
        processing_guarantee="at-least-once",
        # The topics exist; Quix only checks that they do (no creation, no changes).
        auto_create_topics=False,
        loglevel="WARNING",
        consumer_extra_config={"fetch.wait.max.ms": 10},
        producer_extra_config={
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": "lz4",
            "linger.ms": 5,
            "batch.size": 1048576,
        },
    )
    # Values are JSON (orjson) both ways, keys are bytes passed through unchanged:
    # Quix's defaults for a topic.
    input_topic = app.topic(os.environ["BENCH_INPUT"])
    output_topic = app.topic(os.environ["BENCH_OUTPUT"])

    sdf = app.dataframe(input_topic)
    sdf = sdf.filter(lambda value: value.get("level") != "debug")
    sdf["pipeline"] = "bench"
    sdf.to_topic(output_topic)

    app.run()


if __name__ == "__main__":
    main()
