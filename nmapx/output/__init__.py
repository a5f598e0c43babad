"""Every output format behind one ``Writer`` protocol.

``base`` holds the protocol, the script-phase item and where the phases go; ``formats`` is
the one table of formats that ``nmapx run`` and ``nmapx report`` both read. Enriched Nmap XML
(``xml``), Nmap's normal output (``normal``, ``normal_stream``), the report formats
(``report``: HTML, JSON Lines, CSV), Ndiff's text and XML (``ndiff``), all written through
commit-or-nothing files (``atomic``). The package imports nothing on purpose (see
:mod:`nmapx.nmapxml`).
"""
