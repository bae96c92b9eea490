"""Parses a Prometheus exposition with the prometheus-client library's own
parsers and prints it as JSON: a list of families, each with its name, type
and samples (name, labels, value). argv[1] is "openmetrics" (the
OpenMetrics 1.0 parser, strict: it checks histogram buckets, # EOF and
names) or "text" (the Prometheus text format 0.0.4 parser). The
exposition comes on stdin. A parse error exits non-zero with the message."""

import json
import math
import sys

fmt = sys.argv[1]
text = sys.stdin.read()
if fmt == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
elif fmt == "text":
    from prometheus_client.parser import text_string_to_metric_families
else:
    sys.exit(f"unknown format {fmt!r}")

out = []
for fam in text_string_to_metric_families(text):
    samples = []
    for s in fam.samples:
        v = s.value
        if isinstance(v, float) and math.isinf(v):
            v = "+Inf" if v > 0 else "-Inf"
        samples.append({"name": s.name, "labels": dict(s.labels), "value": v})
    out.append({"name": fam.name, "type": fam.type, "samples": samples})
json.dump(out, sys.stdout)
