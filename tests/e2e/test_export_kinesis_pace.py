"""Kinesis at the shards' pace, at the default settings, against ``FakeAws`` with Kinesis's
per-shard write limits enforced (1,000 records and 1 MiB a second per shard, see
``awsfakes.py``).

* With ``ListShards`` allowed: records spread evenly over the shards by an ``ExplicitHashKey``
  in the middle of each shard's range, a random UUID partition key each, few refused by a
  shard's limits, every record once.
* Without it (``AccessDeniedException``): no ``ExplicitHashKey``, the rate learnt from the
  throttling answers, every record once, a log line that says so.
* A reshard (the shards closed, new ones opened) is followed within seconds, not at the next
  5-minute read of the map.
* ``STREAM_MANAGER_EXPORTER_KINESIS_INTER_CALL_DELAY_MS`` (default 0: off) spaces the calls
  while the shard map is unknown.

The benchmark (P9, ``xtask/bench/kinesis_pace.py``) measures the rates against 3x the
stream's capacity; these tests assert behaviour, with bounds loose enough for a loaded runner.
"""

import collections
import re
import time

from awsfakes import fake_aws  # noqa: F401  (fixture)
from test_export_aws import FAKE_KEY, FAKE_SECRET, append_all, aws_env, key_env, kinesis_def, numbered_payloads, \
    seq_of
from test_export_http import fmt_status, statuses, wait_until

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def start(daemon_factory, tmp_path, fake, extra_env=None):
    fake.add_key(FAKE_KEY, FAKE_SECRET)
    env = aws_env(tmp_path / "home", **key_env("AWS_ENDPOINT_URL_KINESIS", fake.endpoint))
    env.update(extra_env or {})
    return daemon_factory(env=env)


def export_all(d, fake, target, n, seed, name="paced"):
    """Appends n numbered records to a stream exporting to ``target`` (default batch size) and
    waits until all are exported; returns the client and the seconds it took."""
    c = d.client()
    c.create_message_stream(kinesis_def(name, target, batch_size=None))
    t0 = time.monotonic()
    append_all(c, name, numbered_payloads(n, seed=seed, max_len=60))
    wait_until(lambda: statuses(c, name)["k"].last_exported_sequence_number == n - 1, 120,
               "all %d records exported" % n, fake.summary)
    return c, time.monotonic() - t0


def once_each(fake, target, n):
    accepted = fake.kinesis_accepted(target)
    seqs = sorted(seq_of(r.data) for r in accepted)
    assert seqs == list(range(n)), "lost or duplicated records\n" + fake.summary()
    keys = [r.partition_key for r in accepted]
    assert all(UUID_RE.match(k) for k in keys), "a partition key is not a random UUID: %r" % keys[:3]
    assert len(set(keys)) == len(keys), "partition keys repeat"
    return accepted


def throttled_share(fake):
    reqs = fake.kinesis_requests()
    sent = sum(len(r.records) for r in reqs)
    return fake.kinesis.shard_throttled / max(1, sent), sent


def test_the_shard_map_spreads_records_evenly_within_the_limits(daemon_factory, tmp_path, fake_aws):
    fake = fake_aws
    fake.add_kinesis_stream("two", shards=2)
    fake.configure_kinesis(shard_limits=True)
    d = start(daemon_factory, tmp_path, fake)
    n = 8000
    c, took = export_all(d, fake, "two", n, seed=11)
    accepted = once_each(fake, "two", n)
    assert [x.outcome for x in fake.list_shards_calls()] == ["ok"], fake.summary()
    shards = {sh.id: sh for sh in fake.kinesis.shards["two"]}
    for r in accepted:
        sh = shards[r.shard]
        assert r.explicit_hash_key == str(sh.start + (sh.end - sh.start) // 2), \
            "record in %s with ExplicitHashKey %r, not its shard's middle" % (r.shard, r.explicit_hash_key)
    per = collections.Counter(r.shard for r in accepted)
    assert all(0.4 * n <= v <= 0.6 * n for v in per.values()), "uneven spread: %r" % dict(per)
    share, sent = throttled_share(fake)
    assert share < 0.10, "%.1f%% of %d records refused by a shard's limits\n%s" % (100 * share, sent, fake.summary())
    assert "Kinesis shard map read" in d.stderr_text()
    s = statuses(c, "paced")["k"]
    assert s.error_message is None, fmt_status(s)
    print("2 shards with ListShards: %d records in %.1f s, %.2f%% throttled, per shard %r"
          % (n, took, 100 * share, dict(per)))


def test_without_list_shards_the_rate_is_learnt_from_throttling(daemon_factory, tmp_path, fake_aws):
    fake = fake_aws
    fake.add_kinesis_stream("two", shards=2)
    fake.configure_kinesis(shard_limits=True, list_shards_allowed=False)
    d = start(daemon_factory, tmp_path, fake)
    n = 8000
    c, took = export_all(d, fake, "two", n, seed=12)
    accepted = once_each(fake, "two", n)
    assert [x.outcome for x in fake.list_shards_calls()] == ["denied"], fake.summary()
    assert all(r.explicit_hash_key is None for r in accepted), "an ExplicitHashKey without the shard map"
    share, sent = throttled_share(fake)
    assert share < 0.30, "%.1f%% of %d records refused by a shard's limits\n%s" % (100 * share, sent, fake.summary())
    log = d.stderr_text()
    assert "Kinesis ListShards failed" in log and "AccessDeniedException" in log, log[-2000:]
    s = statuses(c, "paced")["k"]
    assert s.error_message is None, fmt_status(s)
    print("2 shards without ListShards: %d records in %.1f s, %.2f%% throttled" % (n, took, 100 * share))


def test_a_reshard_is_followed_at_once(daemon_factory, tmp_path, fake_aws):
    fake = fake_aws
    fake.add_kinesis_stream("grows", shards=1)
    fake.configure_kinesis(shard_limits=True)
    d = start(daemon_factory, tmp_path, fake)
    c = d.client()
    c.create_message_stream(kinesis_def("paced", "grows", batch_size=None))
    n = 6000
    payloads = numbered_payloads(n, seed=13, max_len=60)
    append_all(c, "paced", payloads[:1500])
    wait_until(lambda: len(fake.kinesis_accepted("grows")) >= 1000, 30, "the first records", fake.summary)
    fake.reshard("grows", 2)     # shardId-0 closed; shardId-1 and shardId-2 open
    split = time.monotonic()
    append_all(c, "paced", payloads[1500:], first_seq=1500)
    wait_until(lambda: statuses(c, "paced")["k"].last_exported_sequence_number == n - 1, 60,
               "all records after the reshard", fake.summary)
    once_each(fake, "grows", n)
    again = [x for x in fake.list_shards_calls() if x.time > split]
    assert again and again[0].time - split < 10, "the map was not read again after the reshard\n" + fake.summary()
    later = [r for r in fake.kinesis_accepted("grows") if r.shard != "shardId-000000000000"]
    per = collections.Counter(r.shard for r in later)
    assert set(per) == {"shardId-000000000001", "shardId-000000000002"}, dict(per)
    assert min(per.values()) >= 0.3 * len(later), "uneven after the reshard: %r" % dict(per)
    shards = {sh.id: sh for sh in fake.kinesis.shards["grows"]}
    tail = fake.kinesis_accepted("grows")[-1000:]
    assert all(r.explicit_hash_key == str(shards[r.shard].start + (shards[r.shard].end - shards[r.shard].start) // 2)
               for r in tail), "the last records are not placed by the new map"


def test_the_inter_call_delay_spaces_calls_while_the_map_is_unknown(daemon_factory, tmp_path, fake_aws):
    fake = fake_aws
    fake.add_kinesis_stream("slow", shards=2)
    fake.configure_kinesis(list_shards_allowed=False)
    d = start(daemon_factory, tmp_path, fake, {"STREAM_MANAGER_EXPORTER_KINESIS_INTER_CALL_DELAY_MS": "400"})
    c = d.client()
    c.create_message_stream(kinesis_def("paced", "slow", batch_size=10))
    append_all(c, "paced", numbered_payloads(60, seed=14))
    wait_until(lambda: statuses(c, "paced")["k"].last_exported_sequence_number == 59, 30,
               "60 records in calls of 10", fake.summary)
    times = fake.arrival_times()
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) >= 6 and min(gaps) >= 0.4 - 0.02, "calls %r s apart, expected >= 0.4 s" % (
        ["%.2f" % g for g in gaps],)
    once_each(fake, "slow", 60)
