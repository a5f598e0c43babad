"""The NSE-shaped library for Python probe scripts: ``nmap``, ``stdnse``, ``shortport``, ``comm``.

Named and shaped like their Lua originals so that an NSE script ports line by line::

    from nmapx.nse import comm, nmap, shortport, stdnse
"""

from nmapx.nse import comm, nmap, shortport, stdnse

__all__ = ["comm", "nmap", "shortport", "stdnse"]
