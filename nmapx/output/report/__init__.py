"""Reports from Nmap XML: self-contained HTML, JSON Lines and CSV.

Every format is built from the same plain-data view of a host (:mod:`nmapx.output.report.data`), so
the three agree, and hostile values are escaped once, by the format's own rules: jinja2
autoescaping for HTML, ``json`` for JSON Lines, formula neutralisation for CSV.
"""
