"""``nmapx run --workers N`` / ``--scheduler ADDRESS``: one run spread over a Dask cluster.

The coordinator (:mod:`nmapx.cluster.coordinator`) streams the input and writes every
output; workers (:mod:`nmapx.cluster.worker`) run the same engine on batches of hosts;
:mod:`nmapx.cluster.registry` defines how the workers' registries merge. Nothing here is
imported by a run without ``--workers``/``--scheduler``, so such a run never imports Dask.
"""
