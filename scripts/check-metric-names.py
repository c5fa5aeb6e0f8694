#!/usr/bin/env python3
"""Checks that every metric name the Grafana dashboard and the alerting rules use is exported
by a live /metrics. Usage: check-metric-names.py METRICS_URL DASHBOARD.json RULES.yaml.

Names are read from the Prometheus text of /metrics: each `# TYPE name kind` line gives a
family; a counter exports name_total, a histogram name_bucket / _sum / _count. Families
without samples yet (no fire delivered) still have their TYPE line, so an idle server is enough.
"""
import json
import re
import sys
import urllib.request

FUNCTIONS = {"sum", "rate", "irate", "increase", "histogram_quantile", "by", "without", "max",
             "min", "avg", "count", "vector", "and", "or", "unless", "on", "ignoring", "absent",
             "le", "bool", "offset", "topk", "bottomk", "clamp_min", "clamp_max", "humanize"}


def exported(url):
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    names = set()
    for m in re.finditer(r"^# TYPE (\S+) (\S+)", text, re.M):
        name, kind = m.groups()
        names.add(name)
        if kind == "counter":
            names.add(name + "_total")
        if kind == "histogram":
            names.update(name + s for s in ("_bucket", "_sum", "_count"))
    return names


def expressions(dashboard, rules):
    for panel in json.load(open(dashboard))["panels"]:
        for target in panel.get("targets", []):
            yield f"dashboard panel {panel['title']!r}", target["expr"]
    # The rules file is simple YAML: read the `expr:` blocks without a YAML library.
    lines = open(rules).read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s*)expr:\s*(\|)?\s*(.*)$", line)
        if not m:
            continue
        indent, block, rest = m.groups()
        expr = rest
        if block:
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > len(indent)):
                expr += " " + lines[j].strip()
                j += 1
        yield f"rule at {rules}:{i + 1}", expr


def names_in(expr):
    expr = re.sub(r'"[^"]*"', "", expr)          # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)         # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)        # ranges
    expr = re.sub(r"by\s*\([^)]*\)", "", expr)    # grouping labels
    return {t for t in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr) if t not in FUNCTIONS}


def main():
    url, dashboard, rules = sys.argv[1:4]
    have = exported(url)
    missing, used = [], set()
    for where, expr in expressions(dashboard, rules):
        for name in names_in(expr):
            used.add(name)
            if name not in have:
                missing.append(f"{where}: {name}")
    if missing:
        print("metric names not exported by " + url + ":\n  " + "\n  ".join(missing), file=sys.stderr)
        return 1
    print(f"check-metric-names: {len(used)} metric names of the dashboard and the rules are all exported")
    return 0


sys.exit(main())
