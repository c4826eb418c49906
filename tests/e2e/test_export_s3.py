"""The S3 task exporter, end to end, against moto (SigV4 signature checking on).

Each message of an exported stream is a JSON ``S3ExportTaskDefinition`` naming a local file
(``file:`` URL), a bucket and a key; the daemon uploads the file (one ``PutObject`` up to the
threshold, and up to 64 MiB; a multipart upload above) and writes ``StatusMessage`` JSON into a
status stream.  The tests read back what moto holds with boto3 (path-style, the session's
signed key) and decode the status stream with the SDK's ``Util.deserialize_json_bytes_to_obj``.

The multipart ETag moto answers is ``md5(md5(part 1) + md5(part 2) + ...)-N``, so comparing it
with the one computed locally checks the exact part boundaries, not just the bytes.

Daemons: the environment of ``test_export_aws.aws_env`` (none of the runner's AWS_* or proxy
variables) plus the moto key, ``AWS_REGION`` and ``AWS_ENDPOINT_URL_S3``; short retries
(``--exporter-retry-base-ms 50 --exporter-http-timeout-ms 5000``).  Buckets, IAM users and
keys carry a random suffix: the moto server is shared by the whole session.
"""

import datetime
import hashlib
import json
import os
import re
import secrets
import signal
import struct
import time
import zlib

from stream_manager import (
    EventType,
    ExportDefinition,
    MessageStreamDefinition,
    NotEnoughMessagesException,
    Persistence,
    ReadMessagesOptions,
    S3ExportTaskDefinition,
    S3ExportTaskExecutorConfig,
    Status,
    StatusConfig,
    StatusLevel,
    StatusMessage,
    StrategyOnFull,
    Util,
)

from awsfakes import moto_server, moto_session  # noqa: F401  (fixtures)
from test_export_aws import aws_env
from test_export_http import fmt_status, raw_statuses, statuses, wait_until

MiB = 1024 * 1024
REGION = "us-east-1"
S3_ARGS = ("--exporter-retry-base-ms", "50", "--exporter-http-timeout-ms", "5000")
IDENT = "s3"
STATUS = "status"
TERMINAL = (Status.Success, Status.Failure, Status.Canceled)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def boto(moto, service, access_key=None, secret=None):
    """A boto3 client of the session's moto (path-style S3), signed with the allow-all key."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, endpoint_url=moto.endpoint, region_name=REGION,
                        aws_access_key_id=access_key or moto.access_key,
                        aws_secret_access_key=secret or moto.secret,
                        config=Config(s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=60,
                                      retries={"max_attempts": 2, "mode": "standard"},
                                      proxies={"http": None, "https": None}))


def new_bucket(s3, prefix):
    name = "%s-%s" % (prefix, secrets.token_hex(4))
    s3.create_bucket(Bucket=name)
    return name


def start_s3_daemon(daemon_factory, tmp_path, moto, extra=(), label="sm", access_key=None, secret=None):
    env = aws_env(tmp_path / ("home-" + label),
                  AWS_ACCESS_KEY_ID=access_key or moto.access_key,
                  AWS_SECRET_ACCESS_KEY=secret or moto.secret,
                  AWS_REGION=REGION, AWS_ENDPOINT_URL_S3=moto.endpoint)
    return daemon_factory(extra_args=S3_ARGS + tuple(extra), env=env, label=label)


def status_stream_def(name=STATUS, persistence=Persistence.Memory):
    return MessageStreamDefinition(name=name, persistence=persistence,
                                   strategy_on_full=StrategyOnFull.OverwriteOldestData)


def task_stream_def(name, level=StatusLevel.INFO, threshold=None, disabled=None, ttl=None,
                    persistence=Persistence.File, status=STATUS):
    cfg = S3ExportTaskExecutorConfig(
        identifier=IDENT, size_threshold_for_multipart_upload_bytes=threshold, disabled=disabled,
        status_config=StatusConfig(status_level=level, status_stream_name=status))
    return MessageStreamDefinition(name=name, persistence=persistence, time_to_live_millis=ttl,
                                   strategy_on_full=StrategyOnFull.RejectNewData,
                                   export_definition=ExportDefinition(s3_task_executor=[cfg]))


def task(path, bucket, key, metadata=None):
    url = path if str(path).startswith(("file:", "http:")) else "file:" + str(path)
    return S3ExportTaskDefinition(input_url=url, bucket=bucket, key=key, user_metadata=metadata)


def task_bytes(t):
    return Util.validate_and_serialize_to_json_bytes(t)


def random_file(path, size):
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def single_etag(data):
    return '"%s"' % hashlib.md5(data).hexdigest()


def multipart_etag(data, part_size):
    """The ETag S3 (and moto) give an object uploaded in parts of ``part_size`` (last one shorter)."""
    digests = [hashlib.md5(data[i:i + part_size]).digest() for i in range(0, len(data), part_size)]
    return '"%s-%d"' % (hashlib.md5(b"".join(digests)).hexdigest(), len(digests))


def read_statuses(client, name=STATUS):
    """Every StatusMessage in the status stream, in order."""
    try:
        msgs = client.read_messages(name, ReadMessagesOptions(
            desired_start_sequence_number=0, min_message_count=1, max_message_count=100000,
            read_timeout_millis=0))
    except NotEnoughMessagesException:
        return []
    return [Util.deserialize_json_bytes_to_obj(m.payload, StatusMessage) for m in msgs]


def fmt_sm(s):
    ctx = s.status_context
    return "seq=%s %s level=%s: %s" % (ctx.sequence_number if ctx else None, s.status.name,
                                       s.status_level.name if s.status_level else None, s.message)


def by_seq(sms):
    out = {}
    for s in sms:
        out.setdefault(s.status_context.sequence_number, []).append(s)
    return out


def wait_terminal(client, seqs, timeout, ctx_extra=lambda: "", name=STATUS):
    """Waits until each task sequence number in ``seqs`` has a terminal status; returns all."""
    seqs = set(seqs)
    seen = []

    def done():
        seen[:] = read_statuses(client, name)
        got = {s.status_context.sequence_number for s in seen if s.status in TERMINAL}
        return seqs <= got

    def ctx():
        return "status stream:\n  %s\n%s" % ("\n  ".join(fmt_sm(s) for s in seen), ctx_extra())
    wait_until(done, timeout, "terminal statuses of tasks %s" % sorted(seqs), ctx)
    return list(seen)


def describe_text(client, name):
    try:
        return "describe:\n" + "\n".join(fmt_status(s) for s in statuses(client, name).values())
    except Exception as e:  # never hide the real failure
        return "describe failed: %r" % (e,)


def assert_context(s, seq, stream, t=None):
    ctx = s.status_context
    assert s.event_type == EventType.S3Task, fmt_sm(s)
    assert ctx is not None, fmt_sm(s)
    assert (ctx.sequence_number, ctx.stream_name, ctx.export_identifier) == (seq, stream, IDENT), \
        "status context (seq, stream, export) = %r for task %d of %s" % (
            (ctx.sequence_number, ctx.stream_name, ctx.export_identifier), seq, stream)
    if t is not None:
        got = ctx.s3_export_task_definition
        assert got is not None, "status of task %d has no s3ExportTaskDefinition: %s" % (seq, fmt_sm(s))
        assert (got.input_url, got.bucket, got.key, got.user_metadata or {}) == \
            (t.input_url, t.bucket, t.key, t.user_metadata or {}), \
            "status context of task %d carries %r, the task was %r" % (seq, got.as_dict(), t.as_dict())


def object_or_none(s3, bucket, key):
    from botocore.exceptions import ClientError
    try:
        return s3.get_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise


def utc_dates_between(t0, t1):
    """UTC dates (datetime.date) from epoch seconds t0 to t1 inclusive."""
    d = datetime.datetime.fromtimestamp(t0, datetime.timezone.utc).date()
    end = datetime.datetime.fromtimestamp(t1, datetime.timezone.utc).date()
    out = [d]
    while d < end:
        d += datetime.timedelta(days=1)
        out.append(d)
    return out


def age_record(store_dir, seq, by_ms):
    """Moves the ingest time of record ``seq`` ``by_ms`` into the past, in the stopped daemon's
    segment files (sm-log's documented format: 16-byte segment header, then records of
    len u32 | CRC-32 u32 | seq u64 | ingest ms i64 | payload, the CRC over len, seq, ingest,
    payload; little-endian).  Returns (old, new) ingest time."""
    for seg in sorted(store_dir.glob("*.log")):
        data = bytearray(seg.read_bytes())
        assert data[:8] == b"SMLOG\0\0\x01", "%s is not a segment of the known format" % seg
        off = 16
        while off + 24 <= len(data):
            length, crc, rseq, ingest = struct.unpack_from("<IIQq", data, off)
            if length == 0:
                break
            payload = bytes(data[off + 24:off + 24 + length])
            assert zlib.crc32(struct.pack("<IQq", length, rseq, ingest) + payload) == crc, \
                "record %d of %s: the CRC is not what the documented format says" % (rseq, seg)
            if rseq == seq:
                new = ingest - by_ms
                new_crc = zlib.crc32(struct.pack("<IQq", length, rseq, new) + payload)
                struct.pack_into("<IIQq", data, off, length, new_crc, rseq, new)
                seg.write_bytes(bytes(data))
                return ingest, new
            off += 24 + length
    raise AssertionError("record %d not found under %s" % (seq, store_dir))


# ---------------------------------------------------------------------------
# sizes, metadata, keys, status stream
# ---------------------------------------------------------------------------

def test_sizes_metadata_keys_and_statuses(daemon_factory, tmp_path, moto_server):
    """0 B .. 64 MiB files: bytes and user metadata arrive intact (``$aws-gg-`` keys dropped), one
    PutObject up to the 5 MiB threshold and 5 MiB parts above it (checked through the ETag),
    ``!{timestamp:...}`` keys resolve to the UTC date; the status stream holds InProgress then
    Success per task, in order, with the task's context; describe counts the tasks."""
    moto = moto_server
    s3 = boto(moto, "s3")
    bucket = new_bucket(s3, "sm-sizes")
    d = start_s3_daemon(daemon_factory, tmp_path, moto)
    c = d.client()
    name = "tasks"
    c.create_message_stream(status_stream_def())
    c.create_message_stream(task_stream_def(name))

    files = tmp_path / "files"
    files.mkdir()
    sizes = [0, 1, 5 * MiB - 1, 5 * MiB, 5 * MiB + 1, 64 * MiB]
    tasks, datas = [], []
    for i, size in enumerate(sizes):
        p = files / ("f%d.bin" % i)
        datas.append(random_file(p, size))
        meta = {"Seq": str(i), "Mixed-Case-Key": "Value With Spaces %d" % size, "$aws-gg-reserved": "not sent"}
        tasks.append(task(p, bucket, "sizes/%d/object-%d.bin" % (i, size), meta))
    dated_tpl = "dated/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/week-year-!{timestamp:YYYY}.bin"
    p = files / "dated.bin"
    datas.append(random_file(p, 1000))
    tasks.append(task(p, bucket, dated_tpl, {"kind": "dated"}))
    n = len(tasks)

    t0 = time.time()
    for i, t in enumerate(tasks):
        assert c.append_message(name, task_bytes(t)) == i
    ctx = lambda: describe_text(c, name) + "\n" + moto.summary()  # noqa: E731
    sms = wait_terminal(c, range(n), 60, ctx)
    t1 = time.time()

    # status stream: InProgress then Success for each task, tasks one after the other
    order = [(s.status_context.sequence_number, s.status) for s in sms]
    expected = [(i, st) for i in range(n) for st in (Status.InProgress, Status.Success)]
    assert order == expected, "status stream order:\n  %s" % "\n  ".join(fmt_sm(s) for s in sms)
    for s in sms:
        seq = s.status_context.sequence_number
        assert_context(s, seq, name, tasks[seq])
        assert s.timestamp_epoch_ms is not None and t0 * 1000 - 1000 <= s.timestamp_epoch_ms <= t1 * 1000 + 1000, \
            fmt_sm(s)
        if s.status == Status.InProgress:
            assert "uploading" in s.message, fmt_sm(s)

    # objects: bytes, metadata, single PUT vs parts
    for i, (t, data) in enumerate(zip(tasks[:-1], datas[:-1])):
        obj = object_or_none(s3, bucket, t.key)
        assert obj is not None, "task %d: no object %s\n%s" % (i, t.key, ctx())
        body = obj["Body"].read()
        assert len(body) == len(data) and body == data, "task %d (%d bytes): the object holds %d different bytes" % (
            i, len(data), len(body))
        meta = {k.lower(): v for k, v in obj["Metadata"].items()}
        assert meta == {"seq": str(i), "mixed-case-key": "Value With Spaces %d" % len(data)}, \
            "task %d: user metadata %r" % (i, obj["Metadata"])
        want = single_etag(data) if len(data) <= 5 * MiB else multipart_etag(data, 5 * MiB)
        assert obj["ETag"] == want, "task %d (%d bytes): ETag %s, expected %s (%s)" % (
            i, len(data), obj["ETag"], want, "one PutObject" if len(data) <= 5 * MiB else "5 MiB parts")

    # the dated key: today's UTC date (or yesterday's, across midnight)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="dated/").get("Contents", [])]
    allowed = {}
    for day in utc_dates_between(t0, t1):
        week_years = {day.year}
        if (day.month, day.day) >= (12, 25) or (day.month, day.day) <= (1, 7):
            week_years |= {day.year - 1, day.year + 1}  # week-based year near new year: locale rules
        for wy in week_years:
            k = "dated/%04d/%02d/%02d/week-year-%04d.bin" % (day.year, day.month, day.day, wy)
            allowed[k] = day
    assert len(listed) == 1 and listed[0] in allowed, \
        "the dated task made %r; expected one of %r" % (listed, sorted(allowed))
    obj = s3.get_object(Bucket=bucket, Key=listed[0])
    assert obj["Body"].read() == datas[-1] and obj["Metadata"] == {"kind": "dated"}
    success = [s for s in sms if s.status == Status.Success and s.status_context.sequence_number == n - 1][0]
    assert listed[0] in success.message, "the Success message should name the resolved key: " + fmt_sm(success)

    st = statuses(c, name)[IDENT]
    assert st.exported_messages_count == n and st.last_exported_sequence_number == n - 1, fmt_status(st)
    assert st.error_message is None, fmt_status(st)
    assert raw_statuses(d, name)[IDENT].get("skippedMessagesCount", 0) == 0
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), "multipart uploads left open"


def test_single_put_cap_and_min_part_size(daemon_factory, tmp_path, moto_server):
    """Threshold 100 MiB and ``--s3-min-part-size`` 7 MiB: 64 MiB goes up in one PutObject, 64 MiB + 1
    as a multipart upload anyway (the 64 MiB cap), in 7 MiB parts; 5 MiB + 1 in one PutObject."""
    moto = moto_server
    s3 = boto(moto, "s3")
    bucket = new_bucket(s3, "sm-cap")
    part = 7 * MiB
    d = start_s3_daemon(daemon_factory, tmp_path, moto, extra=("--s3-min-part-size", str(part)))
    c = d.client()
    name = "cap"
    c.create_message_stream(status_stream_def())
    c.create_message_stream(task_stream_def(name, threshold=100 * MiB))
    sizes = [64 * MiB, 64 * MiB + 1, 5 * MiB + 1]
    datas, tasks = [], []
    for i, size in enumerate(sizes):
        p = tmp_path / ("cap%d.bin" % i)
        datas.append(random_file(p, size))
        tasks.append(task(p, bucket, "cap/%d" % size))
        assert c.append_message(name, task_bytes(tasks[-1])) == i
    ctx = lambda: describe_text(c, name) + "\n" + moto.summary()  # noqa: E731
    sms = wait_terminal(c, range(len(tasks)), 60, ctx)
    assert [s.status for s in sms if s.status in TERMINAL] == [Status.Success] * 3, \
        "\n".join(fmt_sm(s) for s in sms)
    for t, data in zip(tasks, datas):
        obj = s3.get_object(Bucket=bucket, Key=t.key)
        assert obj["Body"].read() == data, "%s: bytes differ" % t.key
        want = single_etag(data) if len(data) <= 64 * MiB else multipart_etag(data, part)
        assert obj["ETag"] == want, "%s (%d bytes): ETag %s, expected %s" % (t.key, len(data), obj["ETag"], want)


# ---------------------------------------------------------------------------
# failures
# ---------------------------------------------------------------------------

def test_failed_tasks_are_reported_skipped_and_do_not_block(daemon_factory, tmp_path, moto_server):
    """A missing file, a missing bucket, an ``http:`` URL, access denied (IAM Deny), invalid JSON and
    an invalid key each give one Failure status naming the problem and are skipped (not retried);
    describe shows the last failure; a valid task appended after them succeeds."""
    moto = moto_server
    s3 = boto(moto, "s3")
    bucket = new_bucket(s3, "sm-fail")
    denied = new_bucket(s3, "sm-denied")
    # a user that may do anything but PutObject/CreateMultipartUpload into `denied`
    iam = boto(moto, "iam")
    user = "sm-limited-" + secrets.token_hex(4)
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="all-but-denied", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::%s/*" % denied}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]

    d = start_s3_daemon(daemon_factory, tmp_path, moto, access_key=key["AccessKeyId"],
                        secret=key["SecretAccessKey"])
    c = d.client()
    name = "failing"
    c.create_message_stream(status_stream_def())
    c.create_message_stream(task_stream_def(name))
    good = tmp_path / "good.bin"
    good_data = random_file(good, 4096)
    missing_path = tmp_path / "no-such-dir" / "missing.bin"
    no_bucket = "sm-no-such-bucket-" + secrets.token_hex(4)
    cases = [  # (task, or raw payload bytes; text the Failure message must contain, or None)
        (task(missing_path, bucket, "missing"), str(missing_path)),
        (task(good, no_bucket, "nobucket"), "NoSuchBucket"),
        (task("http://x/y", bucket, "http"), "http://x/y"),
        (task(good, denied, "denied"), "AccessDenied"),
        (b'{"inputUrl": "file:' + str(good).encode() + b'", "bucket": ', None),
        (json.dumps({"inputUrl": "file:" + str(good), "bucket": bucket, "key": "bad{key}"}).encode(), "key"),
    ]
    for i, (t, _) in enumerate(cases):
        payload = t if isinstance(t, bytes) else task_bytes(t)
        assert c.append_message(name, payload) == i
    nbad = len(cases)
    ctx = lambda: describe_text(c, name) + "\n" + moto.summary()  # noqa: E731
    sms = wait_terminal(c, range(nbad), 30, ctx)

    # describe names the last failure (the invalid key) before anything else runs
    st = wait_until(lambda: (lambda s: s if s.error_message and "key" in s.error_message.lower() else None)(
        statuses(c, name)[IDENT]), 10, "describe to show the last failure (invalid key)", ctx)
    assert st.exported_messages_count == 0 and st.last_exported_sequence_number == nbad - 1, fmt_status(st)

    good_task = task(good, bucket, "after-failures", {"k": "v"})
    assert c.append_message(name, task_bytes(good_task)) == nbad
    sms = wait_terminal(c, range(nbad + 1), 20, ctx)
    time.sleep(0.3)  # a retried failure would show up as a second status
    sms = read_statuses(c)
    dump = "\n  ".join(fmt_sm(s) for s in sms)
    per = by_seq(sms)
    for i, (t, must) in enumerate(cases):
        terminal = [s for s in per.get(i, []) if s.status in TERMINAL]
        assert [s.status for s in terminal] == [Status.Failure], \
            "task %d: terminal statuses %r (exactly one Failure expected)\n  %s" % (i, terminal, dump)
        f = terminal[0]
        assert f.status_level == StatusLevel.ERROR, fmt_sm(f)
        assert_context(f, i, name, t if isinstance(t, S3ExportTaskDefinition) else None)
        if must:
            assert must in f.message, "task %d: the Failure should mention %r: %s" % (i, must, fmt_sm(f))
        assert [s.status for s in per[i]] in ([Status.Failure], [Status.InProgress, Status.Failure]), \
            "task %d: %s" % (i, dump)
    assert [s.status for s in per[nbad]] == [Status.InProgress, Status.Success], dump
    assert_context(per[nbad][-1], nbad, name, good_task)

    obj = s3.get_object(Bucket=bucket, Key="after-failures")
    assert obj["Body"].read() == good_data and obj["Metadata"] == {"k": "v"}
    assert object_or_none(s3, denied, "denied") is None
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["after-failures"], keys

    st = statuses(c, name)[IDENT]
    assert st.exported_messages_count == 1 and st.last_exported_sequence_number == nbad, fmt_status(st)
    assert raw_statuses(d, name)[IDENT].get("skippedMessagesCount") == nbad, raw_statuses(d, name)
    assert d.alive()


def test_status_level_error_writes_only_failures(daemon_factory, tmp_path, moto_server):
    """statusLevel ERROR: good tasks (single and multipart) write nothing to the status stream,
    the bad ones exactly one Failure each."""
    moto = moto_server
    s3 = boto(moto, "s3")
    bucket = new_bucket(s3, "sm-errlevel")
    d = start_s3_daemon(daemon_factory, tmp_path, moto)
    c = d.client()
    name = "quiet"
    c.create_message_stream(status_stream_def())
    c.create_message_stream(task_stream_def(name, level=StatusLevel.ERROR))
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small_data, big_data = random_file(small, 1234), random_file(big, 6 * MiB)
    tasks = [
        task(small, bucket, "good-0"),
        task(tmp_path / "missing.bin", bucket, "bad-1"),
        task(big, bucket, "good-2"),
        task(small, "sm-missing-" + secrets.token_hex(4), "bad-3"),
        task(small, bucket, "good-4"),
    ]
    for i, t in enumerate(tasks):
        assert c.append_message(name, task_bytes(t)) == i
    ctx = lambda: describe_text(c, name) + "\n" + moto.summary()  # noqa: E731
    wait_until(lambda: statuses(c, name)[IDENT].last_exported_sequence_number == 4, 30, "all 5 tasks", ctx)
    time.sleep(0.2)
    sms = read_statuses(c)
    assert [(s.status_context.sequence_number, s.status) for s in sms] == [(1, Status.Failure), (3, Status.Failure)], \
        "status stream at level ERROR:\n  %s" % "\n  ".join(fmt_sm(s) for s in sms)
    for s in sms:
        assert_context(s, s.status_context.sequence_number, name, tasks[s.status_context.sequence_number])
    assert s3.get_object(Bucket=bucket, Key="good-0")["Body"].read() == small_data
    assert s3.get_object(Bucket=bucket, Key="good-2")["Body"].read() == big_data
    assert s3.get_object(Bucket=bucket, Key="good-4")["Body"].read() == small_data
    st = statuses(c, name)[IDENT]
    assert st.exported_messages_count == 3, fmt_status(st)
    assert raw_statuses(d, name)[IDENT].get("skippedMessagesCount") == 2


# ---------------------------------------------------------------------------
# resume after kill -9
# ---------------------------------------------------------------------------

def test_sigkill_mid_multipart_resumes_from_listed_parts(daemon_factory, tmp_path, moto_server):
    """kill -9 once S3 holds some parts of a 96-128 MiB multipart upload: after restart the same
    upload goes on from the parts S3 has (the InProgress status says "resuming" and how many bytes
    were already uploaded, exactly what ListParts shows), the object is complete and exact, and no
    multipart upload is left open.  When the upload finishes before the kill, retry bigger."""
    moto = moto_server
    s3 = boto(moto, "s3")
    bucket = new_bucket(s3, "sm-resume")
    part = 5 * MiB
    d = start_s3_daemon(daemon_factory, tmp_path, moto, extra=("--s3-min-part-size", str(part)))
    c = d.client()
    name = "resume"
    c.create_message_stream(status_stream_def(persistence=Persistence.File))
    c.create_message_stream(task_stream_def(name))
    ctx = lambda: describe_text(c, name) + "\n" + moto.summary()  # noqa: E731

    caught = None
    history = []
    for attempt, size in enumerate([96 * MiB, 128 * MiB, 128 * MiB, 128 * MiB]):
        p = tmp_path / ("resume-%d.bin" % attempt)
        data = random_file(p, size)
        t = task(p, bucket, "resume/%d.bin" % attempt)
        seq = c.append_message(name, task_bytes(t))
        state = {}

        def parts_or_done():
            ups = s3.list_multipart_uploads(Bucket=bucket, Prefix=t.key).get("Uploads", [])
            if ups:
                parts = s3.list_parts(Bucket=bucket, Key=t.key, UploadId=ups[0]["UploadId"]).get("Parts", [])
                if parts:
                    state["upload_id"] = ups[0]["UploadId"]
                    return "parts"
            if object_or_none(s3, bucket, t.key) is not None:
                return "done"
            return None
        what = wait_until(parts_or_done, 30, "a first part (or the end) of attempt %d" % attempt, ctx)
        if what == "parts":
            os.kill(d.proc.pid, signal.SIGKILL)
            d.kill()  # reap, close the clients
            # A part whose body had all reached moto before the kill is still stored after
            # it: list until two listings half a second apart agree.
            left = None
            for _ in range(20):
                now = s3.list_parts(Bucket=bucket, Key=t.key, UploadId=state["upload_id"]).get("Parts", [])
                if now == left:
                    break
                left = now
                time.sleep(0.5)
            history.append((attempt, size, "killed with %d parts in S3" % len(left)))
            if object_or_none(s3, bucket, t.key) is None and len(left) * part < size:
                caught = (seq, t, data, state["upload_id"], left)
                break
            d.start()  # completed right at the kill: try again
            c = d.client()
        else:
            history.append((attempt, size, "finished before a part was seen"))
        wait_terminal(c, [seq], 30, ctx)
    assert caught, "never caught the upload half-way: %r" % (history,)

    seq, t, data, upload_id, left = caught
    kept_expected = sum(pt["Size"] for pt in left)
    d.start()
    c = d.client()
    sms = wait_terminal(c, [seq], 60, ctx)
    mine = [s for s in sms if s.status_context.sequence_number == seq]
    dump = "\n  ".join(fmt_sm(s) for s in mine)
    assert [s.status for s in mine] == [Status.InProgress, Status.InProgress, Status.Success], \
        "statuses of the killed task (before and after the restart):\n  " + dump
    first, resumed = mine[0], mine[1]
    assert "uploading" in first.message, dump
    assert "resuming" in resumed.message, dump
    m = re.search(r"(\d+) of (\d+) bytes already uploaded", resumed.message)
    assert m, "the resumed InProgress should say how many bytes were already uploaded: " + fmt_sm(resumed)
    kept, total = int(m.group(1)), int(m.group(2))
    assert total == len(data), fmt_sm(resumed)
    assert 0 < kept == kept_expected, \
        "resumed with %d bytes kept; S3 listed %d parts (%d bytes) after the kill: %s" % (
            kept, len(left), kept_expected, fmt_sm(resumed))
    assert_context(resumed, seq, name, t)

    obj = s3.get_object(Bucket=bucket, Key=t.key)
    body = obj["Body"].read()
    assert len(body) == len(data) and body == data, "the resumed object differs from the file"
    # The part count must be the 5 MiB layout. (The ETag's digest itself is not compared here: the
    # killed daemon's in-flight UploadPart can still be stored by moto's threaded server after the
    # restart, racing the resumed upload of the same part; the body check above is what counts.)
    assert obj["ETag"].strip('"').endswith("-%d" % -(-len(data) // part)), \
        "ETag %s: the parts are not the 5 MiB layout" % obj["ETag"]
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads"), \
        "multipart uploads left open (the killed one %s was not continued?)" % upload_id
    st = statuses(c, name)[IDENT]
    assert st.last_exported_sequence_number == seq and st.exported_messages_count >= 1, fmt_status(st)
    assert raw_statuses(d, name)[IDENT].get("skippedMessagesCount", 0) == 0


# ---------------------------------------------------------------------------
# --s3-allowed-dir
# ---------------------------------------------------------------------------

def test_allowed_dirs_confine_input_files(daemon_factory, tmp_path, moto_server):
    """``--s3-allowed-dir`` twice (once through a symlink to the folder): files inside either folder
    (also through a symlink that stays inside) go up; a file outside, a symlink inside pointing
    outside, a ``..`` path out of the folder and a sibling folder sharing the name prefix fail
    with a Failure naming the path."""
    moto = moto_server
    s3 = boto(moto, "s3")
    bucket = new_bucket(s3, "sm-allowed")
    base = tmp_path.resolve()
    a, b, outside, sibling = base / "allowed", base / "allowed-b", base / "outside", base / "allowed-bx"
    for folder in (a, b, outside, sibling):
        folder.mkdir()
    link_to_a = base / "link-to-allowed"
    link_to_a.symlink_to(a)
    d = start_s3_daemon(daemon_factory, tmp_path, moto,
                        extra=("--s3-allowed-dir", str(link_to_a), "--s3-allowed-dir", str(b)))
    c = d.client()
    name = "confined"
    c.create_message_stream(status_stream_def())
    c.create_message_stream(task_stream_def(name))

    datas = {}
    for f in (a / "in-a.bin", b / "in-b.bin", outside / "secret.bin", sibling / "near.bin"):
        datas[f.name] = random_file(f, 2000)
    (a / "link-inside.bin").symlink_to(a / "in-a.bin")
    (a / "link-out.bin").symlink_to(outside / "secret.bin")
    cases = [  # (path in the task, key, None = must succeed / text the Failure must contain)
        (a / "in-a.bin", "in-a", None),
        (b / "in-b.bin", "in-b", None),
        (a / "link-inside.bin", "link-inside", None),
        (outside / "secret.bin", "outside", str(outside / "secret.bin")),
        (a / "link-out.bin", "link-out", None),  # names the link or its target: checked below
        (a / ".." / "outside" / "secret.bin", "dotdot", None),
        (sibling / "near.bin", "sibling", str(sibling / "near.bin")),
    ]
    tasks = [task(pth, bucket, key) for pth, key, _ in cases]
    for i, t in enumerate(tasks):
        assert c.append_message(name, task_bytes(t)) == i
    ctx = lambda: describe_text(c, name) + "\n" + moto.summary()  # noqa: E731
    sms = wait_terminal(c, range(len(tasks)), 30, ctx)
    per = by_seq(sms)
    dump = "\n  ".join(fmt_sm(s) for s in sms)
    for i, (pth, key, must) in enumerate(cases):
        final = [s for s in per[i] if s.status in TERMINAL]
        should_fail = key not in ("in-a", "in-b", "link-inside")
        if not should_fail:
            assert [s.status for s in final] == [Status.Success], "task %d (%s):\n  %s" % (i, pth, dump)
            src = "in-a.bin" if key == "link-inside" else pth.name
            assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == datas[src], key
            continue
        assert [s.status for s in final] == [Status.Failure], "task %d (%s) should fail:\n  %s" % (i, pth, dump)
        msg = final[0].message
        names = [must] if must else [str(pth), str(outside / "secret.bin")]
        assert any(nm in msg for nm in names), "task %d: the Failure should name %s: %r" % (i, " or ".join(names), msg)
        assert object_or_none(s3, bucket, key) is None, "%s was uploaded from outside the allowed folders" % key
    assert raw_statuses(d, name)[IDENT].get("skippedMessagesCount") == 4


# ---------------------------------------------------------------------------
# TTL
# ---------------------------------------------------------------------------

def test_task_older_than_ttl_is_canceled(daemon_factory, tmp_path, moto_server):
    """A stream with timeToLiveMillis 60000 whose export is disabled gets two tasks; with the daemon
    stopped the first one's ingest time is moved 2 minutes into the past (rewriting its record and
    CRC in the segment file); after a restart the export is enabled: the old task is Canceled (not
    uploaded), the young one uploaded."""
    moto = moto_server
    s3 = boto(moto, "s3")
    bucket = new_bucket(s3, "sm-ttl")
    d = start_s3_daemon(daemon_factory, tmp_path, moto)
    c = d.client()
    name = "ttl"
    c.create_message_stream(status_stream_def())
    c.create_message_stream(task_stream_def(name, ttl=60000, disabled=True))
    p = tmp_path / "ttl.bin"
    data = random_file(p, 3000)
    tasks = [task(p, bucket, "ttl/old"), task(p, bucket, "ttl/young")]
    for i, t in enumerate(tasks):
        assert c.append_message(name, task_bytes(t)) == i
    time.sleep(0.3)
    assert read_statuses(c) == [], "a disabled export ran tasks"
    d.kill()
    dirs = d.stream_dirs(name)
    assert len(dirs) == 1, "stream folders of %s: %r" % (name, dirs)
    old, new = age_record(dirs[0], 0, 120_000)
    assert new < time.time() * 1000 - 110_000

    d.start()
    c = d.client()
    c.create_message_stream(status_stream_def())  # Memory: gone with the restart
    c.update_message_stream(task_stream_def(name, ttl=60000, disabled=False))
    ctx = lambda: describe_text(c, name) + "\n" + moto.summary()  # noqa: E731
    sms = wait_terminal(c, [0, 1], 30, ctx)
    per = by_seq(sms)
    dump = "\n  ".join(fmt_sm(s) for s in sms)
    assert [s.status for s in per[0]] == [Status.Canceled], "the old task:\n  " + dump
    assert "time to live" in per[0][0].message.lower() or "ttl" in per[0][0].message.lower(), dump
    assert_context(per[0][0], 0, name, tasks[0])
    assert [s.status for s in per[1]] == [Status.InProgress, Status.Success], "the young task:\n  " + dump
    assert object_or_none(s3, bucket, "ttl/old") is None, "the expired task was uploaded"
    assert s3.get_object(Bucket=bucket, Key="ttl/young")["Body"].read() == data
    st = statuses(c, name)[IDENT]
    assert st.exported_messages_count == 1 and st.last_exported_sequence_number == 1, fmt_status(st)
    assert raw_statuses(d, name)[IDENT].get("skippedMessagesCount") == 1


def test_removed_export_or_deleted_stream_cancels_the_task_in_progress(daemon_factory, tmp_path, moto_server):
    """S3 is unreachable (a closed port), so the first task keeps being retried. Removing the
    export by update writes Canceled for that task; so does deleting a stream whose task is
    retrying. The status stream is a separate stream, so it survives both."""
    moto = moto_server
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = "http://127.0.0.1:%d" % s.getsockname()[1]
    s.close()
    env = aws_env(tmp_path / "home-cancel", AWS_ACCESS_KEY_ID=moto.access_key,
                  AWS_SECRET_ACCESS_KEY=moto.secret, AWS_REGION=REGION, AWS_ENDPOINT_URL_S3=dead)
    d = daemon_factory(extra_args=S3_ARGS, env=env, label="cancel")
    c = d.client()
    c.create_message_stream(status_stream_def())
    p = tmp_path / "c.bin"
    random_file(p, 1000)
    for name in ("by-update", "by-delete"):
        c.create_message_stream(task_stream_def(name))
        assert c.append_message(name, task_bytes(task(p, "some-bucket", "k"))) == 0
    # Both tasks start (InProgress) and then keep failing to connect.
    wait_until(lambda: sum(1 for x in read_statuses(c) if x.status == Status.InProgress) >= 2, 20,
               "both tasks InProgress", lambda: "\n".join(fmt_sm(x) for x in read_statuses(c)))
    time.sleep(0.3)
    assert not any(x.status in (Status.Success, Status.Failure) for x in read_statuses(c))
    c.update_message_stream(MessageStreamDefinition(
        name="by-update", strategy_on_full=StrategyOnFull.RejectNewData))
    c.delete_message_stream("by-delete")

    def canceled():
        return sorted(x.status_context.stream_name for x in read_statuses(c) if x.status == Status.Canceled)

    wait_until(lambda: canceled() == ["by-delete", "by-update"], 20,
               "Canceled for both tasks", lambda: "\n".join(fmt_sm(x) for x in read_statuses(c)))
    for x in read_statuses(c):
        if x.status == Status.Canceled:
            assert x.status_context.sequence_number == 0
            assert x.status_context.export_identifier == IDENT
            assert "removed" in x.message
    # Canceled once each, and nothing else written after it.
    time.sleep(0.5)
    assert len([x for x in read_statuses(c) if x.status == Status.Canceled]) == 2
    assert not any(x.status in (Status.Success, Status.Failure) for x in read_statuses(c))
