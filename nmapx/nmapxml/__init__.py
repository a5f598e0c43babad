"""Nmap XML bytes: from files and pipes to typed pieces, and back to escaped text.

The input side of the data flow, and the lowest layer: ``source`` opens files, stdin and
compressed inputs as chunks; ``scan`` finds tags and elements in bytes; ``repair`` fixes the
characters old Nmap versions wrote; ``escape`` writes text the way Nmap does; ``parsers`` is
the one safe lxml parser configuration every parse in nmapx uses; ``reader`` turns
chunks into ``Prologue``/``TopLevelItem``/``Host``/``Epilogue``/``Truncation`` pieces that keep
their exact bytes. No asyncio and no sockets here. The package imports nothing on purpose, so
that importing one of its modules costs only that module.
"""
