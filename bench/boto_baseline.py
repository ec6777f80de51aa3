#!/usr/bin/python3
"""A baseline for bench/cost.py: the lines of a file into Kinesis with
boto3 (Debian's python3-boto3), written the way a person writes it by hand.

    boto_baseline.py record|records ENDPOINT STREAM FILE

record:  one put_record per line, a random partition key each;
records: put_records in batches of 500, a random partition key each.
The line is sent without its newline. Prints one JSON line: the lines sent
and the CPU seconds of this process spent in the loop (process_time, so
the interpreter's start and boto3's import are not counted: the ratio is
in boto's favour)."""
import json
import sys
import time
import uuid

import boto3
import botocore.config


def main():
    mode, endpoint, stream, path = sys.argv[1:5]
    if not endpoint.startswith("http://127.0.0.1:"):
        sys.exit("boto_baseline: loopback endpoints only")
    kinesis = boto3.client("kinesis", region_name="us-east-1", endpoint_url=endpoint,
                           aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                           config=botocore.config.Config(retries={"max_attempts": 10, "mode": "standard"}))
    n = 0
    t0 = time.process_time()
    with open(path, "rb") as f:
        if mode == "record":
            for line in f:
                kinesis.put_record(StreamName=stream, Data=line.rstrip(b"\n"), PartitionKey=str(uuid.uuid4()))
                n += 1
        else:
            batch = []
            for line in f:
                batch.append({"Data": line.rstrip(b"\n"), "PartitionKey": str(uuid.uuid4())})
                if len(batch) == 500:
                    n += send(kinesis, stream, batch)
                    batch = []
            if batch:
                n += send(kinesis, stream, batch)
    print(json.dumps({"lines": n, "cpu_s": time.process_time() - t0}))


def send(kinesis, stream, batch):
    """put_records, retrying the entries that failed (none when the sink's
    limits are off)."""
    n = len(batch)
    while batch:
        out = kinesis.put_records(StreamName=stream, Records=batch)
        batch = [r for r, res in zip(batch, out["Records"]) if "ErrorCode" in res]
    return n


if __name__ == "__main__":
    main()
