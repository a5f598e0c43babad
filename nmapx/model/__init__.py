"""The scan as data: what rules, scripts and writers read about hosts and ports.

``host`` holds ``Host`` (its raw bytes and three lazy views: the libnmap object, the NSE host
table and the port states) and ``ScanContext``; ``ports`` owns port data: ``Port`` and
``Version``, the parsed view of ``<extraports>``, and every rule that derives a port's state
(folded ports, per-state counts); ``reasons`` is the one table of Nmap's reason names;
``portset`` and ``services`` resolve ports folded into ``<extraports>``; ``values`` holds the
lenient number parsers every reader of attributes uses; ``results`` is a script result and its
``<script>`` XML; ``args`` is the script-argument table. The package imports nothing on
purpose (see :mod:`nmapx.nmapxml`).
"""
