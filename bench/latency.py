#!/usr/bin/env python3
"""One tree's row of bench/answers.sh: sizes from the built tree, composed-answer latency
through a running `eprgen serve`.

usage: latency.py TREE_OUT PORT BUILD_JSON PEAK_RSS_KIB PLAN_MS SOURCE

The query mix is made from the tree's own route table and index, with a fixed seed: shapes the
client profile does not materialize (agent.version, capabilities outside the presets, spec
pairs, discovery filters, all=true with a kibana.version, and mixes with category, type,
package, prerelease and experimental), all distinct, so the first pass composes every answer
(cold) and the second is served from serve's cache (cached). Each request is timed by the
client on one keep-alive connection: "composed" figures to the end of the response headers
(serve composes the whole body before it sends them), "whole body" ones to its last byte (for
the largest answers that is mostly the transfer).
"""
import http.client
import json
import os
import random
import sys
import time

out, port, build_json, rss, plan_ms, source = sys.argv[1:7]
d = os.path.realpath(out)
routes = json.load(open(os.path.join(d, "_eprgen/routes.json")))
index = json.load(open(os.path.join(d, "_eprgen/index.json")))
build = json.load(open(build_json))
manifest = json.load(open(os.path.join(d, "_eprgen/manifest.json")))["files"]


def size(p):
    return os.path.getsize(os.path.join(d, p))


answers = [p for p in manifest if p.startswith("answers/")]
bodies = sum(manifest[p]["size"] for p in answers if not manifest[p].get("content_encoding"))
answer_siblings = sum(manifest[p]["size"] for p in answers if manifest[p].get("content_encoding"))
infos = {r["info"] for vs in routes["packages"].values() for r in vs.values()}
info_siblings = sum(manifest[p]["size"] for p in manifest
                    if manifest[p].get("content_encoding") and p.rsplit(".", 1)[0] in infos)

rnd = random.Random(20261201)
names = index["names"]
cats = [c["id"] for c in index["categories"]]
kib = index["kibana"].get("values", []) or ["8.0.0"]
agent = index["agent"].get("values", []) or ["8.0.0"]
spec = sorted({".".join(v.split(".")[:2]) for v in index["spec"].get("values", [])}) or ["1.0"]
caps = index["capabilities"] or ["observability", "security"]
fields, datasets = index["fields"] or ["a"], index["datasets"] or ["a"]


def near(points):
    p = rnd.choice(points).split("-")[0].split("+")[0].split(".")
    p[2] = str(int(p[2]) + rnd.choice([0, 0, 1]))
    return ".".join(p)


def query():
    q = {}
    shape = rnd.randrange(5)
    if shape == 0:
        q["agent.version"] = near(agent)
    elif shape == 1:
        q["capabilities"] = ",".join(rnd.sample(caps, min(len(caps), rnd.randint(1, 3))))
    elif shape == 2:
        a, b = sorted(rnd.sample(spec, 2) if len(spec) > 1 else spec * 2)
        q["spec.min"], q["spec.max"] = a, b
    elif shape == 3:
        q["discovery"] = ("fields:" + ",".join(rnd.sample(fields, min(len(fields), 2)))
                          if rnd.random() < 0.5 else "datasets:" + rnd.choice(datasets))
    else:
        q["all"] = "true"
    if shape in (1, 2):
        # A preset's capabilities or spec pair would be materialized: keep it composed.
        q["agent.version"] = near(agent)
    if shape == 4 or rnd.random() < 0.7:
        q["kibana.version"] = near(kib)
    if rnd.random() < 0.4:
        q["prerelease"] = "true"
    if rnd.random() < 0.1:
        q["experimental"] = "true"
    if rnd.random() < 0.2:
        q["category"] = rnd.choice(cats) if cats else "web"
    if rnd.random() < 0.1:
        q["type"] = rnd.choice(index["types"])
    if rnd.random() < 0.2:
        q["package"] = rnd.choice(names)
    ep = "categories" if rnd.random() < 0.25 else "search"
    if ep == "categories":
        for k in ("all", "category", "type", "package"):
            q.pop(k, None)
        if rnd.random() < 0.5:
            q["include_policy_templates"] = "true"
        q.setdefault("agent.version", near(agent))
    return "/" + ep + "?" + "&".join(f"{k}={v}" for k, v in q.items())


queries = []
seen = set()
while len(queries) < 2000:
    u = query()
    if u not in seen:
        seen.add(u)
        queries.append(u)

conn = http.client.HTTPConnection("127.0.0.1", int(port))


largest = [0]


def run():
    first, whole, hashes = [], [], set()
    for u in queries:
        t = time.perf_counter()
        conn.request("GET", u)
        r = conn.getresponse()
        first.append((time.perf_counter() - t) * 1000)
        body = r.read()
        whole.append((time.perf_counter() - t) * 1000)
        if r.status != 200:
            raise SystemExit(f"{u}: {r.status} {body[:200]!r}")
        hashes.add(hash(body))
        largest[0] = max(largest[0], len(body))
    first.sort()
    whole.sort()
    return first, whole, hashes


def pct(t, p):
    return round(t[min(len(t) - 1, int(len(t) * p))], 3)


cold, cold_whole, distinct = run()
warm, warm_whole, _ = run()
row = {
    "tree": source,
    "versions": build["packages"],
    "materialized bodies": build["search_answers"] + build["categories_answers"],
    "distinct composed answers in mix": len(distinct),
    "fragment bytes": sum(len(f.encode()) for f in index["fragments"]),
    "materialized body bytes": bodies,
    "answer sibling bytes (.gz+.br)": answer_siblings,
    "package JSON sibling bytes": info_siblings,
    "route table bytes": size("_eprgen/routes.json"),
    "composition index bytes": size("_eprgen/index.json"),
    "planning ms": int(plan_ms),
    "peak RSS KiB": int(rss),
    "composed p50 ms, cold": pct(cold, 0.5),
    "composed p99 ms, cold": pct(cold, 0.99),
    "composed p50 ms, cached": pct(warm, 0.5),
    "composed p99 ms, cached": pct(warm, 0.99),
    "whole body p99 ms, cold": pct(cold_whole, 0.99),
    "whole body p99 ms, cached": pct(warm_whole, 0.99),
    "largest composed body bytes": largest[0],
}
print(json.dumps(row))
