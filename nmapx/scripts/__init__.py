"""nmapx's built-in probe scripts (ids: file names with ``_`` written as ``-``)."""
